package dev.zq.lkd.train;

import dev.zq.lkd.autodiff.Var;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class AverageTest {
    @Test
    void theParametersBecomeTheMeanOfTheValuesShown() {
        Var a = Var.param(new double[]{1, -2}, 2), b = Var.param(new double[]{4}, 1);
        Average avg = new Average(List.of(a, b));
        avg.add();                       // (1, -2), 4
        a.data[0] = 3; a.data[1] = 0; b.data[0] = -4;
        avg.add();                       // (3, 0), -4
        a.data[0] = 8; a.data[1] = 1; b.data[0] = 3;
        avg.add();                       // (8, 1), 3
        a.data[0] = 100;                 // changed after the last add: not part of the mean
        assertEquals(3, avg.count());
        avg.apply();
        assertArrayEquals(new double[]{4, -1.0 / 3}, a.data, 1e-15);
        assertArrayEquals(new double[]{1}, b.data, 1e-15);
    }

    @Test
    void withNothingAddedTheParametersStay() {
        Var a = Var.param(new double[]{1.5, 2.5}, 2);
        new Average(List.of(a)).apply();
        assertArrayEquals(new double[]{1.5, 2.5}, a.data);
    }
}
