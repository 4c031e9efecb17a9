package dev.zq.bench;
import java.lang.foreign.Arena;
import java.util.Random;
public class L {
  public static void main(String[] a) {
    try (Arena ar = Arena.ofShared()) {
      CpuKernelBench.linears(ar, new Random(1), new int[][]{{8, 768, 3072}, {16, 768, 3072}, {32, 768, 3072}, {32, 3072, 768}});
    }
  }
}
