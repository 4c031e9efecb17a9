package dev.zq.model;

import java.nio.file.Path;

/** A model, weights, tokenizer or config file that cannot be read as what it claims to be. */
public class ModelFormatException extends Exception {
    public ModelFormatException(String message) { super(message); }
    public ModelFormatException(String message, Throwable cause) { super(message, cause); }

    /** Message that names the file first, so the user knows which input is bad. */
    public static ModelFormatException of(Path file, String what) {
        return new ModelFormatException(file + ": " + what);
    }

    /**
     * {@code t}, the weights {@code name} read from {@code file}, if all its values are finite; a model with a NaN or an
     * infinity in its weights is refused where it is read, naming the tensor and the element, rather than running into
     * NaN logits or a quantizer's complaint far from the cause.
     */
    public static dev.zq.tensor.Tensor requireFinite(Path file, String name, dev.zq.tensor.Tensor t) throws ModelFormatException {
        long i = t.firstNonFinite();
        if (i >= 0) throw of(file, name + " holds " + t.getFloat(i) + " at " + t.shape().indexOf(i) + ": a model's weights must be finite numbers");
        return t;
    }

    public static ModelFormatException of(Path file, String what, Throwable cause) {
        return new ModelFormatException(file + ": " + what, cause);
    }
}
