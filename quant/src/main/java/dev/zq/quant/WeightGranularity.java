package dev.zq.quant;

/**
 * How many weights share one scale. The paper's PTQ baseline uses one scale per tensor; ZeroQuant uses
 * groups along the input dimension of each output row ({@link #groups}), a whole row being one group.
 */
public record WeightGranularity(Kind kind, int groupSize) {
    public enum Kind { PER_TENSOR, PER_ROW, GROUPWISE }

    public WeightGranularity {
        if (kind == Kind.GROUPWISE && groupSize <= 0)
            throw new IllegalArgumentException("group size must be positive, got " + groupSize);
    }

    public static WeightGranularity perTensor() { return new WeightGranularity(Kind.PER_TENSOR, 0); }
    public static WeightGranularity perRow() { return new WeightGranularity(Kind.PER_ROW, 0); }
    public static WeightGranularity groups(int groupSize) { return new WeightGranularity(Kind.GROUPWISE, groupSize); }

    /** Group size along a row of {@code cols} inputs; the row length must be a multiple of it. */
    public int groupSizeFor(int cols) {
        if (kind != Kind.GROUPWISE) return cols;
        if (cols % groupSize != 0)
            throw new IllegalArgumentException("row of " + cols + " inputs is not a multiple of group size " + groupSize);
        return groupSize;
    }

    @Override
    public String toString() {
        return switch (kind) {
            case PER_TENSOR -> "per-tensor";
            case PER_ROW -> "per-row";
            case GROUPWISE -> "group " + groupSize;
        };
    }
}
