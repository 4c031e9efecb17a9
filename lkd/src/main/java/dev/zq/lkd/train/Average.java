package dev.zq.lkd.train;

import dev.zq.lkd.autodiff.Var;

import java.util.List;

/**
 * Polyak–Ruppert averaging: the mean of parameters' values over the optimizer steps it is shown, written back into
 * them at the end. The last iterate of a short schedule carries the noise of its last batches; the mean over the
 * schedule's tail carries less of it.
 */
public final class Average {
    private final List<Var> params;
    private final double[][] sums;
    private int count;

    public Average(List<Var> params) {
        this.params = List.copyOf(params);
        sums = new double[params.size()][];
        for (int i = 0; i < params.size(); i++) sums[i] = new double[params.get(i).numel()];
    }

    /** Adds the parameters' current values (call after an optimizer step). */
    public void add() {
        for (int i = 0; i < params.size(); i++) {
            double[] d = params.get(i).data, s = sums[i];
            for (int j = 0; j < d.length; j++) s[j] += d[j];
        }
        count++;
    }

    /** How many steps were added. */
    public int count() { return count; }

    /** Writes the mean of the added values into the parameters; nothing when none was added. */
    public void apply() {
        if (count == 0) return;
        for (int i = 0; i < params.size(); i++) {
            double[] d = params.get(i).data, s = sums[i];
            for (int j = 0; j < d.length; j++) d[j] = s[j] / count;
        }
    }
}
