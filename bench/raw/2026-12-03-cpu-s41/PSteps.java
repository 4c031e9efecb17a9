import dev.zq.bench.DecoderBenchmark;
import java.lang.management.*;
import java.nio.file.*;
public class PSteps {
    static long[] faults() throws Exception {
        String s = Files.readString(Path.of("/proc/self/stat"));
        String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
        return new long[]{Long.parseLong(f[7]), Long.parseLong(f[9])};   // minflt, majflt
    }
    static long steal() throws Exception {
        String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
        return Long.parseLong(f[8]);   // cpu steal, in USER_HZ ticks (10 ms)
    }
    static long cpuMs() { return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime() / 1_000_000; }
    static long gcMs() { long t = 0; for (GarbageCollectorMXBean g : ManagementFactory.getGarbageCollectorMXBeans()) t += g.getCollectionTime(); return t; }
    public static void main(String[] a) throws Exception {
        DecoderBenchmark b = new DecoderBenchmark();
        b.shape = "gpt2-small"; b.scheme = a[0]; b.batch = Integer.parseInt(a[1]);
        boolean prefill = a[3].equals("prefill");
        b.setUp();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Integer.parseInt(a[2]); i++) {
            long[] f0 = faults(); long g0 = gcMs(); long st0 = steal(), c0 = cpuMs(); long t0 = System.nanoTime();
            if (prefill) b.prefill(); else b.decode();
            long t = System.nanoTime() - t0; long[] f1 = faults();
            sb.append(String.format("@%d %.0f(cpu %d, steal %d, flt %d, gc %d)%n", System.currentTimeMillis() - t / 1_000_000, t / 1e6, cpuMs() - c0, 10 * (steal() - st0), f1[0] - f0[0], gcMs() - g0));
        }
        System.out.println(sb);
        b.tearDown();
    }
}
