package dev.zq.runtime.cuda;

/** A CUDA driver call that failed: the call, the driver's error name and its numeric code. */
public class CudaException extends Exception {
    private final int code;
    private final String errorName;

    public CudaException(String call, int code, String errorName) {
        super(call + " failed: " + errorName + " (" + code + ")");
        this.code = code;
        this.errorName = errorName;
    }

    /** For failures found before any driver call (no driver, bad arguments). */
    public CudaException(String message) {
        super(message);
        this.code = -1;
        this.errorName = "";
    }

    public CudaException(String message, Throwable cause) {
        super(message, cause);
        this.code = -1;
        this.errorName = "";
    }

    public int code() { return code; }
    public String errorName() { return errorName; }
}
