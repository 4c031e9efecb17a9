package dev.zq.runtime;

/**
 * A kernel the JIT cannot translate to PTX: names the method, the bytecode instruction and its source
 * line, or carries the PTX assembler's / driver's log when generated PTX was rejected.
 */
public class KernelCompileException extends Exception {
    public KernelCompileException(String message) { super(message); }
    public KernelCompileException(String message, Throwable cause) { super(message, cause); }
}
