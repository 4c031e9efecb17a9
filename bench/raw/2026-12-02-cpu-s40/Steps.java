import dev.zq.bench.DecoderBenchmark;
public class Steps {
    public static void main(String[] a) {
        DecoderBenchmark b = new DecoderBenchmark();
        b.shape = "gpt2-small"; b.scheme = a[0]; b.batch = Integer.parseInt(a[1]);
        b.setUp();
        long start = System.nanoTime();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Integer.parseInt(a[2]); i++) {
            long t0 = System.nanoTime();
            b.decode();
            sb.append(String.format("%.1f ", (System.nanoTime() - t0) / 1e6));
        }
        System.out.println(sb);
        b.tearDown();
    }
}
