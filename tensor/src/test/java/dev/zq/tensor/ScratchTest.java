package dev.zq.tensor;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

class ScratchTest {
    @Test
    void nestedFramesNeverShareABufferAndTheNextCallReusesThem() {
        long outerAddress, innerAddress;
        try (Scratch outer = Scratch.open()) {
            Tensor a = outer.zeroed(DType.F32, 4, 8);
            a.setFloat(0, 7f);
            try (Scratch inner = Scratch.open()) {
                Tensor b = inner.zeroed(DType.F32, 4, 8);
                b.setFloat(0, 9f);
                innerAddress = b.segment().address();
            }
            assertEquals(7f, a.getFloat(0), "the inner frame wrote into the outer frame's buffer");
            outerAddress = a.segment().address();
            assertNotEquals(outerAddress, innerAddress);
        }
        try (Scratch again = Scratch.open()) {
            Tensor c = again.tensor(DType.I8, 16);
            assertEquals(outerAddress, c.segment().address(), "the first buffer is reused");
            assertEquals(16, c.segment().byteSize());
            Tensor d = again.zeroed(DType.F32, 4, 8);
            assertEquals(innerAddress, d.segment().address(), "the second buffer is reused");
            for (int i = 0; i < 32; i++) assertEquals(0f, d.getFloat(i));
        }
    }

    @Test
    void aBufferGrowsWhenACallNeedsMore() {
        try (Scratch s = Scratch.open()) {
            s.tensor(DType.F32, 4);
        }
        try (Scratch s = Scratch.open()) {
            Tensor big = s.zeroed(DType.F32, 1000, 100);
            assertEquals(400_000, big.segment().byteSize());
            big.setFloat(99_999, 1f);
            assertEquals(0, big.segment().address() % 64, "aligned for vector loads");
        }
    }

    @Test
    void framesClosedOutOfOrderOrOnAnotherThreadAreRefused() throws Exception {
        Scratch outer = Scratch.open();
        Scratch inner = Scratch.open();
        inner.tensor(DType.F32, 2);
        assertThrows(IllegalStateException.class, outer::close);
        assertThrows(IllegalStateException.class, () -> outer.tensor(DType.F32, 2));
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                inner.close();
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        t.join();
        assertInstanceOf(IllegalStateException.class, failure.get());
        inner.close();
        outer.close();
        assertThrows(IllegalStateException.class, () -> inner.tensor(DType.F32, 2));
    }

    @Test
    void otherThreadsMayReadAndWriteAFramesTensors() {
        try (Scratch s = Scratch.open()) {
            Tensor t = s.zeroed(DType.F32, 64);
            Parallel.forEach(64, 1_000_000, new Tensor[]{t}, i -> t.setFloat(i, i));
            for (int i = 0; i < 64; i++) assertEquals(i, t.getFloat(i));
        }
    }
}
