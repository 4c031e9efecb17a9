package dev.zq.quant;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A quantization scheme read from JSON, in the shape of DeepSpeed's compression config:
 * <pre>{@code
 * {
 *   "name": "W4/8A8",
 *   "weight_quantization": {
 *     "shared_parameters": { "enabled": true, "quantization_type": "symmetric",
 *                            "granularity": "groupwise", "group_size": 64 },
 *     "different_groups": {
 *       "attention": { "params": { "bits": 8 }, "modules": ["attention", "attn"] },
 *       "mlp":       { "params": { "bits": 4 }, "modules": ["intermediate", "output.dense", "mlp"] } } },
 *   "activation_quantization": {
 *     "shared_parameters": { "enabled": true, "quantization_type": "symmetric", "range_calibration": "dynamic" },
 *     "different_groups": { "all": { "params": { "bits": 8 }, "modules": ["*"] } } }
 * }
 * }</pre>
 * <ul>
 * <li>{@code granularity}: {@code per_tensor} (the PTQ baseline), {@code per_row}, or {@code groupwise} with
 *     either {@code group_size} (inputs per group) or {@code quantize_groups} (groups per row, DeepSpeed's key).
 *     A group may override the shared keys in its {@code params}.</li>
 * <li>{@code range_calibration}: {@code dynamic} (ZeroQuant's token-wise scales at run time) or {@code static}
 *     (one scale per tensor, calibrated on data: {@code "calibration": {"method": "max"}} or
 *     {@code {"method": "percentile", "percentile": 99.99}}).</li>
 * <li>{@code modules}: a module matches a pattern if its name contains it; {@code "*"} matches every module;
 *     a pattern starting with {@code re:} is a regular expression that must match the whole name. The first
 *     group (in file order) that matches a module decides; modules no group matches stay in floating point.</li>
 * <li>Weight bits 2–8; activation bits 8 (the integer GEMM is INT8×INT8).</li>
 * </ul>
 * Unknown keys and impossible values are rejected with the path of the offending key.
 */
public record Scheme(String name, List<WeightRule> weights, Optional<ActivationRule> activations) {

    /** Weight quantization for the modules that match {@code modules}. */
    public record WeightRule(String group, List<String> modules, int bits, WeightGranularity granularity, int groupsPerRow) {
        /** Granularity for a row of {@code cols} inputs (resolves {@code quantize_groups}). */
        public WeightGranularity granularityFor(int cols) {
            if (groupsPerRow <= 0) return granularity;
            if (cols % groupsPerRow != 0)
                throw new IllegalArgumentException("rows of " + cols + " inputs cannot be split into " + groupsPerRow + " groups");
            return groupsPerRow == 1 ? WeightGranularity.perRow() : WeightGranularity.groups(cols / groupsPerRow);
        }
    }

    /** Activation quantization: dynamic token-wise, or static with a calibration method. */
    public record ActivationRule(String group, List<String> modules, int bits, boolean dynamic, String calibration, double percentile) {}

    public Optional<WeightRule> weightRule(String module) {
        return weights.stream().filter(r -> matches(r.modules(), module)).findFirst();
    }

    public Optional<ActivationRule> activationRule(String module) {
        return activations.filter(r -> matches(r.modules(), module));
    }

    static boolean matches(List<String> patterns, String module) {
        for (String p : patterns) {
            if (p.equals("*") || (p.startsWith("re:") ? module.matches(p.substring(3)) : module.contains(p))) return true;
        }
        return false;
    }

    // ---------------------------------------------------------------- parsing

    private static final ObjectMapper JSON = new ObjectMapper();

    public static Scheme read(Path file) throws SchemeException {
        try (InputStream in = Files.newInputStream(file)) {
            return parse(in, file.toString());
        } catch (IOException e) {
            throw new SchemeException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** One of the schemes shipped in {@code quant/src/main/resources/schemes}, by name (e.g. {@code w8a8}). */
    public static Scheme builtin(String id) throws SchemeException {
        try (InputStream in = Scheme.class.getResourceAsStream("/schemes/" + id + ".json")) {
            if (in == null) throw new SchemeException("no built-in scheme '" + id + "' (built-in: " + String.join(", ", BUILTIN) + ")");
            return parse(in, "built-in scheme " + id);
        } catch (IOException e) {
            throw new SchemeException("built-in scheme " + id + ": " + e.getMessage(), e);
        }
    }

    /** Ids of the built-in schemes, in the order the paper's tables list them. */
    public static final List<String> BUILTIN = List.of("w16a16", "w8a16", "w16a8", "w8a8-ptq", "w8a8", "w8a8-per-row", "w4-8a16-ptq", "w4-8a16", "w4-8a8");

    /** A built-in id, or a path to a JSON file. */
    public static Scheme resolve(String idOrPath) throws SchemeException {
        return BUILTIN.contains(idOrPath) ? builtin(idOrPath) : read(Path.of(idOrPath));
    }

    public static Scheme parse(InputStream in, String source) throws SchemeException {
        JsonNode root;
        try {
            root = JSON.readTree(in);
        } catch (JsonProcessingException e) {
            throw new SchemeException(source + ": not valid JSON: " + e.getOriginalMessage() + " at line "
                    + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr(), e);
        } catch (IOException e) {
            throw new SchemeException(source + ": cannot read: " + e.getMessage(), e);
        }
        Ctx c = new Ctx(source);
        ObjectNode obj = c.object(root, "");
        c.keys(obj, "", Set.of("name", "weight_quantization", "activation_quantization"));
        String name = obj.has("name") ? c.text(obj.get("name"), "name") : source;
        List<WeightRule> weights = new ArrayList<>();
        if (obj.has("weight_quantization")) weights = c.weightRules(c.object(obj.get("weight_quantization"), "weight_quantization"));
        Optional<ActivationRule> acts = obj.has("activation_quantization")
                ? c.activationRule(c.object(obj.get("activation_quantization"), "activation_quantization")) : Optional.empty();
        return new Scheme(name, List.copyOf(weights), acts);
    }

    /** Parsing context: every error names the source and the JSON path. */
    private record Ctx(String source) {
        SchemeException fail(String path, String what) {
            return new SchemeException(source + ": " + (path.isEmpty() ? "" : path + ": ") + what);
        }

        ObjectNode object(JsonNode n, String path) throws SchemeException {
            if (!(n instanceof ObjectNode o)) throw fail(path, "expected a JSON object, got " + n.getNodeType());
            return o;
        }

        void keys(ObjectNode o, String path, Set<String> allowed) throws SchemeException {
            for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!allowed.contains(k))
                    throw fail(path, "unknown key '" + k + "' (allowed: " + String.join(", ", allowed.stream().sorted().toList()) + ")");
            }
        }

        String text(JsonNode n, String path) throws SchemeException {
            if (!n.isTextual()) throw fail(path, "expected a string, got " + n);
            return n.asText();
        }

        int integer(JsonNode n, String path, int min, int max) throws SchemeException {
            if (!n.isIntegralNumber() || n.asLong() < min || n.asLong() > max)
                throw fail(path, "expected an integer in [" + min + ", " + max + "], got " + n);
            return n.asInt();
        }

        boolean bool(JsonNode n, String path) throws SchemeException {
            if (!n.isBoolean()) throw fail(path, "expected true or false, got " + n);
            return n.asBoolean();
        }

        /** Shared parameters overlaid with a group's params (the group wins). */
        ObjectNode merged(ObjectNode shared, ObjectNode params) {
            ObjectNode m = shared.deepCopy();
            m.setAll(params);
            return m;
        }

        List<String> modules(JsonNode n, String path) throws SchemeException {
            if (n == null || !n.isArray() || n.isEmpty()) throw fail(path, "expected a non-empty array of module patterns");
            List<String> out = new ArrayList<>();
            for (JsonNode p : n) {
                String s = text(p, path);
                if (s.isEmpty()) throw fail(path, "empty module pattern");
                if (s.startsWith("re:")) {
                    try {
                        java.util.regex.Pattern.compile(s.substring(3));
                    } catch (java.util.regex.PatternSyntaxException e) {
                        throw fail(path, "bad regular expression '" + s.substring(3) + "': " + e.getDescription());
                    }
                }
                out.add(s);
            }
            return out;
        }

        static final Set<String> WEIGHT_KEYS = Set.of("enabled", "quantization_type", "granularity", "group_size", "quantize_groups", "bits");

        List<WeightRule> weightRules(ObjectNode wq) throws SchemeException {
            String path = "weight_quantization";
            keys(wq, path, Set.of("shared_parameters", "different_groups"));
            ObjectNode shared = wq.has("shared_parameters") ? object(wq.get("shared_parameters"), path + ".shared_parameters") : JSON.createObjectNode();
            keys(shared, path + ".shared_parameters", WEIGHT_KEYS);
            if (shared.has("enabled") && !bool(shared.get("enabled"), path + ".shared_parameters.enabled")) return List.of();
            if (!wq.has("different_groups")) throw fail(path, "missing 'different_groups' (which modules get which bits)");
            ObjectNode groups = object(wq.get("different_groups"), path + ".different_groups");
            List<WeightRule> rules = new ArrayList<>();
            for (Map.Entry<String, JsonNode> g : groups.properties()) {
                String gp = path + ".different_groups." + g.getKey();
                ObjectNode go = object(g.getValue(), gp);
                keys(go, gp, Set.of("params", "modules"));
                ObjectNode params = go.has("params") ? object(go.get("params"), gp + ".params") : JSON.createObjectNode();
                keys(params, gp + ".params", WEIGHT_KEYS);
                ObjectNode p = merged(shared, params);
                if (p.has("enabled") && !bool(p.get("enabled"), gp + ".params.enabled")) continue;
                if (p.has("quantization_type") && !text(p.get("quantization_type"), gp + ".quantization_type").equals("symmetric"))
                    throw fail(gp, "quantization_type must be 'symmetric' (the paper's scheme), got " + p.get("quantization_type"));
                if (!p.has("bits")) throw fail(gp + ".params", "missing 'bits'");
                int bits = integer(p.get("bits"), gp + ".params.bits", 2, 8);
                String gran = p.has("granularity") ? text(p.get("granularity"), gp + ".granularity") : "groupwise";
                WeightGranularity granularity;
                int groupsPerRow = 0;
                switch (gran) {
                    case "per_tensor" -> granularity = WeightGranularity.perTensor();
                    case "per_row" -> granularity = WeightGranularity.perRow();
                    case "groupwise" -> {
                        if (p.has("group_size") == p.has("quantize_groups"))
                            throw fail(gp, "groupwise needs exactly one of 'group_size' (inputs per group) or 'quantize_groups' (groups per row)");
                        if (p.has("group_size")) granularity = WeightGranularity.groups(integer(p.get("group_size"), gp + ".group_size", 1, 1 << 20));
                        else {
                            groupsPerRow = integer(p.get("quantize_groups"), gp + ".quantize_groups", 1, 1 << 20);
                            granularity = WeightGranularity.perRow();
                        }
                    }
                    default -> throw fail(gp + ".granularity", "expected per_tensor, per_row or groupwise, got '" + gran + "'");
                }
                rules.add(new WeightRule(g.getKey(), modules(go.get("modules"), gp + ".modules"), bits, granularity, groupsPerRow));
            }
            return rules;
        }

        Optional<ActivationRule> activationRule(ObjectNode aq) throws SchemeException {
            String path = "activation_quantization";
            keys(aq, path, Set.of("shared_parameters", "different_groups"));
            Set<String> allowed = Set.of("enabled", "quantization_type", "range_calibration", "calibration", "bits");
            ObjectNode shared = aq.has("shared_parameters") ? object(aq.get("shared_parameters"), path + ".shared_parameters") : JSON.createObjectNode();
            keys(shared, path + ".shared_parameters", allowed);
            if (shared.has("enabled") && !bool(shared.get("enabled"), path + ".shared_parameters.enabled")) return Optional.empty();
            if (!aq.has("different_groups")) throw fail(path, "missing 'different_groups'");
            ObjectNode groups = object(aq.get("different_groups"), path + ".different_groups");
            if (groups.size() != 1)
                throw fail(path + ".different_groups", "expected exactly one group (all quantized activations share one format), got " + groups.size());
            Map.Entry<String, JsonNode> g = groups.properties().iterator().next();
            String gp = path + ".different_groups." + g.getKey();
            ObjectNode go = object(g.getValue(), gp);
            keys(go, gp, Set.of("params", "modules"));
            ObjectNode params = go.has("params") ? object(go.get("params"), gp + ".params") : JSON.createObjectNode();
            keys(params, gp + ".params", allowed);
            ObjectNode p = merged(shared, params);
            if (p.has("quantization_type") && !text(p.get("quantization_type"), gp + ".quantization_type").equals("symmetric"))
                throw fail(gp, "quantization_type must be 'symmetric', got " + p.get("quantization_type"));
            int bits = p.has("bits") ? integer(p.get("bits"), gp + ".params.bits", 8, 8) : 8;
            String range = p.has("range_calibration") ? text(p.get("range_calibration"), gp + ".range_calibration") : "dynamic";
            if (!range.equals("dynamic") && !range.equals("static"))
                throw fail(gp + ".range_calibration", "expected 'dynamic' (token-wise) or 'static' (calibrated), got '" + range + "'");
            String method = "max";
            double percentile = 100;
            if (p.has("calibration")) {
                if (range.equals("dynamic")) throw fail(gp + ".calibration", "only static ranges are calibrated");
                ObjectNode cal = object(p.get("calibration"), gp + ".calibration");
                keys(cal, gp + ".calibration", Set.of("method", "percentile"));
                method = cal.has("method") ? text(cal.get("method"), gp + ".calibration.method") : "max";
                if (method.equals("percentile")) {
                    JsonNode pc = cal.get("percentile");
                    if (pc == null || !pc.isNumber() || !(pc.asDouble() > 0 && pc.asDouble() <= 100))
                        throw fail(gp + ".calibration.percentile", "expected a number in (0, 100], got " + pc);
                    percentile = pc.asDouble();
                } else if (!method.equals("max")) {
                    throw fail(gp + ".calibration.method", "expected 'max' or 'percentile', got '" + method + "'");
                } else if (cal.has("percentile")) {
                    throw fail(gp + ".calibration.percentile", "only meaningful with method 'percentile'");
                }
            }
            if (p.has("enabled") && !bool(p.get("enabled"), gp + ".params.enabled")) return Optional.empty();
            return Optional.of(new ActivationRule(g.getKey(), modules(go.get("modules"), gp + ".modules"), bits,
                    range.equals("dynamic"), method, percentile));
        }
    }
}
