package dev.zq.tensor;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.attribute.CodeAttribute;
import java.lang.classfile.MethodModel;
import java.lang.constant.ClassDesc;
import java.net.URI;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * No method of the CPU kernels longer than a one-liner takes a Vector API vector as an argument. Where C2 does not inline such a call it boxes
 * every vector argument (an object and a float[] payload each), and whether it inlines depends on what was compiled first
 * ("already compiled into a big method"): Int8PackedMatrix's 8-row tiles handed their 16 accumulators to a helper, and
 * the decode JVMs that compiled the tile after the helper ran 4–10× slow (bench/RESULTS.md, CPU decoder, ninth round).
 * Accumulators leave a tile through an array instead.
 */
class VectorArgumentsTest {
    @Test
    void noKernelMethodTakesAVector() throws Exception {
        List<String> offenders = new ArrayList<>();
        int methods = 0;
        try (Classes classes = Classes.of(Tensor.class)) {
            for (Path file : classes.files()) {
                ClassModel model = ClassFile.of().parse(Files.readAllBytes(file));
                for (MethodModel m : model.methods()) {
                    methods++;
                    int bytes = m.code().map(c -> ((CodeAttribute) c).codeLength()).orElse(0);
                    if (bytes > MAX_INLINE_SIZE && m.methodTypeSymbol().parameterList().stream().anyMatch(VectorArgumentsTest::isVector))
                        offenders.add(model.thisClass().asInternalName() + "." + m.methodName().stringValue() + m.methodType().stringValue() + " (" + bytes + " bytes)");
                }
            }
        }
        assertFalse(methods < 50, "found only " + methods + " methods: the scan did not see the tensor classes");
        assertEquals(List.of(), offenders, "methods that take a vector (boxed where C2 does not inline the call)");
    }

    /** C2 inlines a method of at most this many bytecodes wherever it is called (-XX:MaxInlineSize's default). */
    private static final int MAX_INLINE_SIZE = 35;

    /** A vector (not a species or an operator, which are constants). */
    private static boolean isVector(ClassDesc type) {
        String d = type.descriptorString();
        return d.startsWith("Ljdk/incubator/vector/") && d.endsWith("Vector;");
    }

    /** The class files of the module that holds {@code anchor}: its classes directory, or the jar it was loaded from. */
    private record Classes(List<Path> files, FileSystem jar) implements AutoCloseable {
        static Classes of(Class<?> anchor) throws IOException, java.net.URISyntaxException {
            Path location = Path.of(anchor.getProtectionDomain().getCodeSource().getLocation().toURI());
            FileSystem jar = Files.isDirectory(location) ? null : FileSystems.newFileSystem(URI.create("jar:" + location.toUri()), Map.of());
            Path root = jar == null ? location : jar.getPath("/");
            try (Stream<Path> walk = Files.walk(root)) {
                return new Classes(walk.filter(p -> p.toString().endsWith(".class")).toList(), jar);
            }
        }

        @Override
        public void close() throws IOException {
            if (jar != null) jar.close();
        }
    }
}
