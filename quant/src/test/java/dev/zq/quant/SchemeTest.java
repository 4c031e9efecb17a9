package dev.zq.quant;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

class SchemeTest {
    static Scheme parse(String json) throws SchemeException {
        return Scheme.parse(new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), "test.json");
    }

    static String fails(String json) {
        var e = assertThrows(SchemeException.class, () -> parse(json));
        assertTrue(e.getMessage().startsWith("test.json"), e.getMessage());
        return e.getMessage();
    }

    @Test
    void builtinsReadAndMeanWhatTheirNamesSay() throws Exception {
        for (String id : Scheme.BUILTIN) assertNotNull(Scheme.builtin(id));
        Scheme mixed = Scheme.builtin("w4-8a8");
        assertEquals(8, mixed.weightRule("encoder.layer.0.attention.self.query").orElseThrow().bits());
        assertEquals(8, mixed.weightRule("encoder.layer.0.attention.output.dense").orElseThrow().bits(), "attention output is attention, not MLP");
        assertEquals(4, mixed.weightRule("encoder.layer.0.intermediate.dense").orElseThrow().bits());
        assertEquals(4, mixed.weightRule("encoder.layer.0.output.dense").orElseThrow().bits());
        assertEquals(4, mixed.weightRule("h.3.mlp.c_fc").orElseThrow().bits());
        assertTrue(mixed.activationRule("anything").orElseThrow().dynamic());
        Scheme ptq = Scheme.builtin("w8a8-ptq");
        assertEquals(WeightGranularity.Kind.PER_TENSOR, ptq.weightRule("x").orElseThrow().granularity().kind());
        assertFalse(ptq.activationRule("x").orElseThrow().dynamic());
        assertTrue(Scheme.builtin("w16a16").weightRule("x").isEmpty());
        assertTrue(Scheme.builtin("w16a8").weightRule("x").isEmpty());
        assertTrue(Scheme.builtin("w8a16").activationRule("x").isEmpty());
        assertThrows(SchemeException.class, () -> Scheme.builtin("w3a3"));
    }

    @Test
    void quantizeGroupsMeansGroupsPerRow() throws Exception {
        Scheme s = parse("{\"weight_quantization\":{\"shared_parameters\":{\"quantize_groups\":6},\"different_groups\":{\"g\":{\"params\":{\"bits\":8},\"modules\":[\"re:.*query\"]}}}}");
        assertEquals(WeightGranularity.groups(64), s.weightRule("a.query").orElseThrow().granularityFor(384));
        assertTrue(s.weightRule("a.key").isEmpty());
        assertThrows(IllegalArgumentException.class, () -> s.weightRule("a.query").orElseThrow().granularityFor(100));
    }

    @Test
    void unknownKeysAndImpossibleValuesAreRejected() {
        String group = "\"different_groups\":{\"g\":{\"params\":{\"bits\":8},\"modules\":[\"*\"]}}";
        assertTrue(fails("{\"weigth_quantization\":{}}").contains("unknown key 'weigth_quantization'"));
        assertTrue(fails("{\"weight_quantization\":{\"shared_parameters\":{\"group_size\":64,\"bitz\":3}," + group + "}}").contains("unknown key 'bitz'"));
        assertTrue(fails("{\"weight_quantization\":{\"different_groups\":{\"g\":{\"params\":{\"bits\":9},\"modules\":[\"*\"]}}}}").contains("[2, 8]"));
        assertTrue(fails("{\"weight_quantization\":{\"different_groups\":{\"g\":{\"params\":{\"bits\":8},\"modules\":[\"*\"]}}}}").contains("exactly one of 'group_size'"));
        assertTrue(fails("{\"weight_quantization\":{\"shared_parameters\":{\"group_size\":0}," + group + "}}").contains("group_size"));
        assertTrue(fails("{\"weight_quantization\":{\"shared_parameters\":{\"granularity\":\"per_column\"}," + group + "}}").contains("per_column"));
        assertTrue(fails("{\"weight_quantization\":{\"shared_parameters\":{\"group_size\":8,\"quantization_type\":\"asymmetric\"}," + group + "}}").contains("symmetric"));
        assertTrue(fails("{\"weight_quantization\":{\"shared_parameters\":{\"group_size\":8}}}").contains("different_groups"));
        assertTrue(fails("{\"weight_quantization\":{\"shared_parameters\":{\"group_size\":8},\"different_groups\":{\"g\":{\"params\":{\"bits\":8},\"modules\":[]}}}}").contains("non-empty"));
        assertTrue(fails("{\"weight_quantization\":{\"shared_parameters\":{\"group_size\":8},\"different_groups\":{\"g\":{\"params\":{\"bits\":8},\"modules\":[\"re:([\"]}}}}").contains("regular expression"));
        assertTrue(fails("{\"activation_quantization\":{\"shared_parameters\":{\"range_calibration\":\"sometimes\"}," + group + "}}").contains("sometimes"));
        assertTrue(fails("{\"activation_quantization\":{\"different_groups\":{\"g\":{\"params\":{\"bits\":4},\"modules\":[\"*\"]}}}}").contains("[8, 8]"));
        assertTrue(fails("{\"activation_quantization\":{\"shared_parameters\":{\"range_calibration\":\"static\",\"calibration\":{\"method\":\"percentile\",\"percentile\":120}}," + group + "}}").contains("(0, 100]"));
        assertTrue(fails("{\"activation_quantization\":{\"shared_parameters\":{\"calibration\":{\"method\":\"max\"}}," + group + "}}").contains("only static"));
        assertTrue(fails("{\"name\": 3}").contains("expected a string"));
        assertTrue(fails("{\"name\": \"x\",}").contains("not valid JSON"));
    }
}
