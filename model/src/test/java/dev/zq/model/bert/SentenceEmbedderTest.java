package dev.zq.model.bert;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class SentenceEmbedderTest {
    @Test
    void normalizeGivesUnitVectorsKeepsZeroAndRefusesNonFiniteOnes() {
        float[][] n = SentenceEmbedder.normalize(new float[][]{{3, 4}, {0, 0}, {-2e38f, 2e38f}});
        assertArrayEquals(new float[]{0.6f, 0.8f}, n[0], 1e-7f);
        assertArrayEquals(new float[]{0, 0}, n[1], "a zero vector stays zero");
        assertArrayEquals(new float[]{(float) -Math.sqrt(0.5), (float) Math.sqrt(0.5)}, n[2], 1e-7f, "large but finite");
        for (float bad : new float[]{Float.NaN, Float.POSITIVE_INFINITY}) {
            var e = assertThrows(IllegalStateException.class, () -> SentenceEmbedder.normalize(new float[][]{{1, 2}, {1, bad}}));
            assertTrue(e.getMessage().contains("sentence 1") && e.getMessage().contains("not finite"), e.getMessage());
        }
    }
}
