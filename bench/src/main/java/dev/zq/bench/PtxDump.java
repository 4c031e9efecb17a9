package dev.zq.bench;

import dev.zq.runtime.KernelCompiler;

/**
 * Prints the PTX zq's JIT makes of one kernel, e.g. to inspect it or to feed {@code ptxas -v}:
 * {@code java -cp … dev.zq.bench.PtxDump dev.zq.kernels.Int8GemmKernel gemm128 > k.ptx}.
 */
public final class PtxDump {
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: PtxDump KERNEL_CLASS METHOD");
            System.exit(2);
        }
        System.out.print(new KernelCompiler().ptx(KernelCompiler.find(Class.forName(args[0]), args[1])));
    }
}
