package dev.zq.kernels;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** NVIDIA's PTX assembler, where installed (development machines and CI): validates generated PTX. */
final class Ptxas {
    private Ptxas() {}

    static Optional<Path> find() {
        for (String dir : (System.getenv().getOrDefault("PATH", "") + ":/usr/local/cuda/bin:/usr/local/bin").split(":")) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, "ptxas");
            if (Files.isExecutable(p)) return Optional.of(p);
        }
        return Optional.empty();
    }

    /** Assembles {@code ptx} for sm_90a; returns null on success, else ptxas's output. */
    static String assemble(Path ptxas, String ptx) throws IOException, InterruptedException {
        Run r = run(ptxas, ptx, false);
        return r.ok() ? null : r.log();
    }

    /** ptxas's {@code -v} report of {@code ptx} (registers, spills, shared memory); fails if it does not assemble. */
    static String resources(Path ptxas, String ptx) throws IOException, InterruptedException {
        Run r = run(ptxas, ptx, true);
        if (!r.ok()) throw new AssertionError("ptxas rejected the PTX:\n" + r.log());
        return r.log();
    }

    private record Run(boolean ok, String log) {}

    private static Run run(Path ptxas, String ptx, boolean verbose) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("zq-ptxas");
        try {
            Path in = dir.resolve("k.ptx"), out = dir.resolve("k.cubin");
            Files.writeString(in, ptx);
            var cmd = new java.util.ArrayList<>(java.util.List.of(ptxas.toString(), "-arch=sm_90a", in.toString(), "-o", out.toString()));
            if (verbose) cmd.add("-v");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String log = new String(p.getInputStream().readAllBytes());
            if (!p.waitFor(60, TimeUnit.SECONDS)) { p.destroyForcibly(); return new Run(false, "ptxas timed out"); }
            return new Run(p.exitValue() == 0, log);
        } finally {
            try (var s = Files.list(dir)) { for (Path f : s.toList()) Files.deleteIfExists(f); }
            Files.deleteIfExists(dir);
        }
    }
}
