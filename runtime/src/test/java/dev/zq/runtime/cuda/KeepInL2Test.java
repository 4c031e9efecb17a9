package dev.zq.runtime.cuda;

import dev.zq.runtime.FloatArray;
import dev.zq.runtime.TaskGraph;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@link TaskGraph#keepInL2}'s bookkeeping and the share of a window's lines {@link CudaPlan} lets persist. */
class KeepInL2Test {
    @Test
    void everyLinePersistsWhereTheWindowsFitTheSetAsideElseTheShareThatFits() {
        assertEquals(1f, CudaPlan.hitRatio(36 << 20, 30 << 20));
        assertEquals(1f, CudaPlan.hitRatio(36 << 20, 36 << 20));
        assertEquals(0.5f, CudaPlan.hitRatio(36L << 20, 72L << 20));
        float r = CudaPlan.hitRatio(37_748_736L, 38_597_376L);   // 36 MiB set aside, GPT-2's INT8 head
        assertTrue(r < 1f && r * 38_597_376L <= 37_748_736L + 64, "persisting lines must fit the set-aside: " + r);
        assertEquals(0f, CudaPlan.hitRatio(0, 1 << 20), "nothing set aside, nothing persists");
        assertEquals(0f, CudaPlan.hitRatio(1 << 20, 0));
    }

    @Test
    void keptBuffersAreRecordedOnceInOrder() {
        try (Arena a = Arena.ofConfined()) {
            FloatArray x = FloatArray.allocate(a, 8), y = FloatArray.allocate(a, 8);
            TaskGraph g = new TaskGraph("g").keepInL2(y, x).keepInL2(y);
            assertEquals(List.of(y, x), List.copyOf(g.keptInL2()));
            assertThrows(UnsupportedOperationException.class, () -> g.keptInL2().clear());
            assertTrue(new TaskGraph("none").keptInL2().isEmpty());
        }
    }
}
