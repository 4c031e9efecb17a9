package dev.zq.bench;

import dev.zq.lkd.Lkd;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The LKD sweep's settings ({@link DecoderTables.LkdSetting}): each option reaches its {@link Lkd.Options} component. */
class LkdSettingTest {
    @Test
    void theRecipeReadsAsClippingAtThirtyTimesTheRateOnTheQuantizedPath() {
        var s = DecoderTables.LkdSetting.parse("100:1e-4:64:clipx30:qin:w256");
        Lkd.Options o = s.options();
        assertEquals(100, o.stepsPerLayer());
        assertEquals(1e-4, o.learningRate());
        assertEquals(64, s.windows());
        assertEquals(Lkd.Method.WEIGHTS_AND_CLIPPING, o.method());
        assertEquals(30, o.thresholdLearningRateScale());
        assertTrue(o.quantizedInputs());
        assertEquals(DecoderTables.WINDOW, s.seq());
        assertEquals(0, o.logitBlocks());
        assertEquals(0, o.averagedShare());
    }

    @Test
    void numberedOptionsCarryTheirNumbersAndPlainOnesTheirDefaults() {
        var s = DecoderTables.LkdSetting.parse("50:2e-4:32:clip:qin:mix0.25:lnx2:avg0.5:kl1:b16:bc:shift997");
        Lkd.Options o = s.options();
        assertEquals(Lkd.Method.WEIGHTS_AND_CLIPPING, o.method());
        assertEquals(1, o.thresholdLearningRateScale());   // plain clip: the weights' rate
        assertEquals(0.25, o.fpInputShare());
        assertEquals(2, o.normLearningRateScale());
        assertEquals(0.5, o.averagedShare());
        assertEquals(1, o.logitBlocks());
        assertTrue(o.biasCorrection());   // bc is plain, not b's number
        assertEquals(16, (int) s.number("b", 8));
        assertEquals(997, (int) s.number("shift", 0));
        assertEquals(128, s.seq());
        Lkd.Options plain = DecoderTables.LkdSetting.parse("10:1e-4:8").options();
        assertEquals(Lkd.Method.WEIGHTS, plain.method());
        assertFalse(plain.quantizedInputs() || plain.biasCorrection() || plain.gptqStart());
        assertEquals(8, (int) DecoderTables.LkdSetting.parse("10:1e-4:8").number("b", 8));
        assertEquals(1, DecoderTables.LkdSetting.parse("10:1e-4:8:ln").options().normLearningRateScale());
        assertEquals(Lkd.Method.ROUNDING, DecoderTables.LkdSetting.parse("10:1e-4:8:round").options().method());
    }

    @Test
    void unknownOrMalformedOptionsAreRefusedByName() {
        for (String bad : new String[]{"10:1e-4:8:foo", "10:1e-4:8:bx", "10:1e-4:8:klx", "10:1e-4:8:shift-3", "10:1e-4:8:clipx"}) {
            var e = assertThrows(IllegalArgumentException.class, () -> DecoderTables.LkdSetting.parse(bad));
            assertTrue(e.getMessage().contains("unknown LKD option"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> DecoderTables.LkdSetting.parse("10:1e-4"));
    }
}
