package dev.zq.model;

import dev.zq.tensor.Tensor;

/**
 * {@code out = x · Wᵀ + b} over the rows of {@code x}: the seam where quantized layers plug in. A model
 * holds its projections as {@code Linear}s, so swapping FP32 for INT8/INT4 never touches the model code.
 */
public interface Linear {
    int inFeatures();

    int outFeatures();

    /** {@code x}: F32 [..., in]; {@code out}: F32 [..., out], same leading dims. */
    void forward(Tensor x, Tensor out);

    /** Bytes of weights and scales this layer keeps in memory. */
    long weightBytes();
}
