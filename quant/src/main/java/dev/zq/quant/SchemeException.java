package dev.zq.quant;

/** A quantization scheme that cannot be read or is impossible (unknown key, out-of-range value). */
public class SchemeException extends Exception {
    public SchemeException(String message) { super(message); }
    public SchemeException(String message, Throwable cause) { super(message, cause); }
}
