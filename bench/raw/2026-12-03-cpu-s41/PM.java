import dev.zq.tensor.*;
import java.lang.foreign.Arena;
import java.util.*;
public class PM {
    public static void main(String[] a) {
        int m = Integer.parseInt(a[0]), k = Integer.parseInt(a[1]), n = Integer.parseInt(a[2]), reps = Integer.parseInt(a[3]);
        Arena arena = Arena.ofShared();
        Tensor w = Tensor.allocate(arena, DType.F32, n, k), x = Tensor.allocate(arena, DType.F32, m, k), out = Tensor.allocate(arena, DType.F32, m, n);
        Random r = new Random(1);
        for (long i = 0; i < w.numel(); i++) w.setFloat(i, (float) r.nextGaussian());
        for (long i = 0; i < x.numel(); i++) x.setFloat(i, (float) r.nextGaussian());
        PackedMatrix p = PackedMatrix.pack(arena, w);
        double[] t = new double[reps];
        for (int i = 0; i < reps; i++) { long t0 = System.nanoTime(); p.multiply(x, null, out); t[i] = (System.nanoTime() - t0) / 1e6; }
        double[] s = Arrays.copyOfRange(t, reps / 2, reps); Arrays.sort(s);
        System.out.printf("%dx%dx%d: median of last half %.2f ms, best %.2f%n", m, k, n, s[s.length / 2], s[0]);
    }
}
