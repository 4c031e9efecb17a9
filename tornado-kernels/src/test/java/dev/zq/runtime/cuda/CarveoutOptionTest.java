package dev.zq.runtime.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@code -Dzq.cuda.carveout}: a percentage, or unset; anything else is refused by name rather than passed to the driver. */
class CarveoutOptionTest {
    @Test
    void unsetLeavesTheDriverToChoose() {
        assertEquals(-1, CudaDevice.carveout(null));
        assertEquals(-1, CudaDevice.carveout(" "));
    }

    @Test
    void percentagesAreTaken() {
        assertEquals(0, CudaDevice.carveout("0"));
        assertEquals(100, CudaDevice.carveout(" 100 "));
    }

    @Test
    void otherValuesAreRefused() {
        for (String bad : new String[] {"101", "-1", "max", "50%"}) {
            var e = assertThrows(IllegalArgumentException.class, () -> CudaDevice.carveout(bad));
            assertTrue(e.getMessage().contains("zq.cuda.carveout"), e.getMessage());
        }
    }
}
