import dev.zq.tensor.*;
import java.lang.foreign.Arena;
import java.util.*;
public class M {
    public static void main(String[] a) {
        int batch = Integer.parseInt(a[0]), layers = Integer.parseInt(a[1]), passes = Integer.parseInt(a[2]);
        Random rnd = new Random(1);
        Arena ar = Arena.ofShared();
        int[][] shapes = {{2304, 768}, {768, 768}, {3072, 768}, {768, 3072}};
        List<Int8PackedMatrix> ms = new ArrayList<>();
        for (int l = 0; l < layers; l++) for (int[] s : shapes) {
            Tensor c = Tensor.allocate(ar, DType.I8, s[0], s[1]);
            for (long i = 0; i < c.numel(); i++) c.setByte(i, (byte) (rnd.nextInt(255) - 127));
            Tensor sc = Tensor.allocate(ar, DType.F32, s[0], s[1] / 64);
            for (long i = 0; i < sc.numel(); i++) sc.setFloat(i, 0.01f + rnd.nextFloat() * 0.01f);
            ms.add(Int8PackedMatrix.pack(ar, c, sc, 64));
        }
        Tensor x768 = Tensor.allocate(ar, DType.I8, batch, 768), x3072 = Tensor.allocate(ar, DType.I8, batch, 3072), sx = Tensor.allocate(ar, DType.F32, batch);
        for (long i = 0; i < x768.numel(); i++) x768.setByte(i, (byte) (rnd.nextInt(255) - 127));
        for (long i = 0; i < x3072.numel(); i++) x3072.setByte(i, (byte) (rnd.nextInt(255) - 127));
        for (int i = 0; i < batch; i++) sx.setFloat(i, 0.02f);
        Tensor out = Tensor.allocate(ar, DType.F32, batch, 3072 * 1);
        StringBuilder sb = new StringBuilder();
        for (int p = 0; p < passes; p++) {
            long t0 = System.nanoTime();
            for (Int8PackedMatrix m : ms) {
                Tensor x = m.cols() == 768 ? x768 : x3072;
                Tensor o = Tensor.wrap(out.segment().asSlice(0, 4L * batch * m.rows()), DType.F32, Shape.of(batch, m.rows()));
                m.multiply(x, sx, null, o);
            }
            sb.append(String.format("%.0f ", (System.nanoTime() - t0) / 1e6));
        }
        System.out.println(sb);
    }
}
