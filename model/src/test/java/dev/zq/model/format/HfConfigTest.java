package dev.zq.model.format;

import dev.zq.model.ModelFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class HfConfigTest {
    @TempDir
    Path dir;

    @Test
    void typedAccessorsAndClearErrors() throws Exception {
        Path f = dir.resolve("config.json");
        Files.writeString(f, "{\"hidden_size\": 384, \"layer_norm_eps\": 1e-12, \"model_type\": \"bert\", \"architectures\": [\"BertModel\"], \"x\": \"y\"}");
        HfConfig c = HfConfig.read(f);
        assertEquals(384, c.getInt("hidden_size"));
        assertEquals(1e-12f, c.getFloat("layer_norm_eps"));
        assertEquals("bert", c.modelType());
        assertEquals(java.util.List.of("BertModel"), c.architectures());
        assertEquals(12, c.optInt("num_hidden_layers", 12));
        var e = assertThrows(ModelFormatException.class, () -> c.getInt("num_attention_heads"));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("missing key 'num_attention_heads'"), e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> c.getInt("x"));
        assertTrue(e.getMessage().contains("'x' must be an integer"), e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> c.getInt("layer_norm_eps"));
        assertTrue(e.getMessage().contains("must be an integer"), e.getMessage());
        Files.writeString(f, "{\"hidden_size\": 384,,}");
        e = assertThrows(ModelFormatException.class, () -> HfConfig.read(f));
        assertTrue(e.getMessage().contains("malformed JSON") && e.getMessage().contains("line 1"), e.getMessage());
        assertThrows(ModelFormatException.class, () -> HfConfig.read(dir.resolve("missing.json")));
    }
}
