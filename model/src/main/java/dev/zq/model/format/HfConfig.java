package dev.zq.model.format;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.zq.model.ModelFormatException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A Hugging Face {@code config.json}, with typed accessors that name the file and key when they fail. */
public final class HfConfig {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path file;
    private final JsonNode root;

    private HfConfig(Path file, JsonNode root) {
        this.file = file;
        this.root = root;
    }

    public static HfConfig read(Path file) throws ModelFormatException {
        try {
            if (Files.size(file) > 16 << 20) throw ModelFormatException.of(file, "config of " + Files.size(file) + " bytes is too large to be a config.json");
            JsonNode root = JSON.readTree(file.toFile());
            if (root == null || !root.isObject()) throw ModelFormatException.of(file, "expected a JSON object");
            return new HfConfig(file, root);
        } catch (JsonProcessingException e) {
            throw ModelFormatException.of(file, "malformed JSON: " + e.getOriginalMessage() + " at line "
                    + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr(), e);
        } catch (NoSuchFileException e) {
            throw ModelFormatException.of(file, "not found", e);
        } catch (IOException e) {
            throw ModelFormatException.of(file, "cannot read: " + e.getMessage(), e);
        }
    }

    public Path file() { return file; }
    public boolean has(String key) { return root.has(key) && !root.get(key).isNull(); }

    public int getInt(String key) throws ModelFormatException {
        JsonNode n = require(key);
        if (!n.isIntegralNumber() || !n.canConvertToInt()) throw wrongType(key, "an integer", n);
        return n.asInt();
    }

    public int optInt(String key, int fallback) throws ModelFormatException {
        return has(key) ? getInt(key) : fallback;
    }

    public float getFloat(String key) throws ModelFormatException {
        JsonNode n = require(key);
        if (!n.isNumber()) throw wrongType(key, "a number", n);
        return (float) n.asDouble();
    }

    public float optFloat(String key, float fallback) throws ModelFormatException {
        return has(key) ? getFloat(key) : fallback;
    }

    public String getString(String key) throws ModelFormatException {
        JsonNode n = require(key);
        if (!n.isTextual()) throw wrongType(key, "a string", n);
        return n.asText();
    }

    public String optString(String key, String fallback) throws ModelFormatException {
        return has(key) ? getString(key) : fallback;
    }

    public boolean optBoolean(String key, boolean fallback) throws ModelFormatException {
        if (!has(key)) return fallback;
        JsonNode n = root.get(key);
        if (!n.isBoolean()) throw wrongType(key, "true or false", n);
        return n.asBoolean();
    }

    /** A nested object (e.g. {@code rope_parameters}) read with the same accessors; null when absent. */
    public HfConfig section(String key) throws ModelFormatException {
        if (!has(key)) return null;
        JsonNode n = root.get(key);
        if (!n.isObject()) throw wrongType(key, "an object", n);
        return new HfConfig(file, n);
    }

    public String modelType() throws ModelFormatException { return optString("model_type", ""); }

    public List<String> architectures() throws ModelFormatException {
        if (!has("architectures")) return List.of();
        JsonNode n = root.get("architectures");
        if (!n.isArray()) throw wrongType("architectures", "an array of strings", n);
        List<String> out = new ArrayList<>();
        for (JsonNode a : n) {
            if (!a.isTextual()) throw wrongType("architectures", "an array of strings", n);
            out.add(a.asText());
        }
        return out;
    }

    private JsonNode require(String key) throws ModelFormatException {
        if (!has(key)) throw ModelFormatException.of(file, "missing key '" + key + "'");
        return root.get(key);
    }

    private ModelFormatException wrongType(String key, String want, JsonNode got) {
        String shown = got.toString();
        return ModelFormatException.of(file, "key '" + key + "' must be " + want + ", got " + (shown.length() > 80 ? shown.substring(0, 80) + "…" : shown));
    }
}
