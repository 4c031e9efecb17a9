import dev.zq.runtime.KernelCompiler;
import java.nio.file.*;
public class DumpPtx {
    public static void main(String[] a) throws Exception {
        Class<?> c = Class.forName(a[0]);
        for (var m : c.getDeclaredMethods()) if (m.getName().equals(a[1]) && m.isAnnotationPresent(dev.zq.runtime.Kernel.class)) {
            Files.writeString(Path.of(a[2]), new KernelCompiler().ptx(m));
            System.out.println("wrote " + a[2]);
        }
    }
}
