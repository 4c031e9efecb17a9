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

    public static ModelFormatException of(Path file, String what, Throwable cause) {
        return new ModelFormatException(file + ": " + what, cause);
    }
}
