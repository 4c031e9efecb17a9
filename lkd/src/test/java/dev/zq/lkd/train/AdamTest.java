package dev.zq.lkd.train;

import dev.zq.lkd.autodiff.Ops;
import dev.zq.lkd.autodiff.Var;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class AdamTest {
    @Test
    void fitsALinearMapAndIsDeterministic() {
        double[] first = null;
        for (int run = 0; run < 2; run++) {
            java.util.Random rnd = new java.util.Random(1);
            double[] x = new double[64 * 4], target = new double[64 * 3];
            double[][] truth = {{1, -2, 0.5, 3}, {0, 1, 1, -1}, {2, 0, -0.5, 0.25}};
            for (int i = 0; i < 64; i++)
                for (int j = 0; j < 4; j++) x[i * 4 + j] = rnd.nextGaussian();
            for (int i = 0; i < 64; i++)
                for (int o = 0; o < 3; o++) for (int j = 0; j < 4; j++) target[i * 3 + o] += truth[o][j] * x[i * 4 + j];
            Var w = Var.param(new double[12], 3, 4);
            Adam adam = new Adam(List.of(w), 0.05, 400, 20, 10);
            double loss = 0;
            for (int s = 0; s < 400; s++) {
                Var l = Ops.mse(Ops.linear(Var.constant(x, 64, 4), w, null), Var.constant(target, 64, 3));
                loss = l.item();
                l.backward();
                adam.update();
            }
            assertTrue(loss < 1e-4, "loss " + loss);
            for (int o = 0; o < 3; o++) for (int j = 0; j < 4; j++) assertEquals(truth[o][j], w.data[o * 4 + j], 0.02);
            if (first == null) first = w.data.clone();
            else assertArrayEquals(first, w.data, 0.0, "same inputs, same result");
        }
    }

    @Test
    void clipsTheGlobalNormAndFollowsTheSchedule() {
        Var w = Var.param(new double[]{0, 0}, 2);
        Adam adam = new Adam(List.of(w), 1.0, 10, 2, 1.0);
        assertEquals(0.5, adam.currentLr(), 1e-12, "warm-up step 1 of 2");
        w.grad()[0] = 300;
        w.grad()[1] = 400;
        assertEquals(500, adam.update(), 1e-9, "the norm before clipping");
        assertEquals(0, w.grad()[0], "gradients are zeroed after the update");
        // First Adam step moves each weight by lr·sign(g) whatever the clipping: -0.5 each.
        assertEquals(-0.5, w.data[0], 1e-6);
        assertEquals(-0.5, w.data[1], 1e-6);
        for (int i = 0; i < 9; i++) { w.grad()[0] = 1; adam.update(); }
        assertEquals(0, adam.currentLr(), 1e-12, "cosine decay ends at 0");
        w.grad()[0] = Double.NaN;
        assertThrows(IllegalStateException.class, adam::update);
    }

    @Test
    void aParameterCanTrainAtAMultipleOfTheLearningRate() {
        Var w = Var.param(new double[]{0}, 1), t = Var.param(new double[]{0}, 1), other = Var.param(new double[]{0}, 1);
        Adam adam = new Adam(List.of(w, t), 0.01, 10, 0, 1e9).scaleLearningRate(t, 10);
        w.grad()[0] = 2;
        t.grad()[0] = 2;
        adam.update();
        assertEquals(-0.01, w.data[0], 1e-9, "first step: lr · sign(g)");
        assertEquals(-0.1, t.data[0], 1e-9, "ten times the step");
        assertThrows(IllegalArgumentException.class, () -> adam.scaleLearningRate(other, 2), "not a parameter of this optimizer");
        assertThrows(IllegalArgumentException.class, () -> adam.scaleLearningRate(t, 0));
    }
}
