package dev.zq.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/** The {@code zq} command. Each subcommand is one file in this package. */
@Command(name = "zq", mixinStandardHelpOptions = true, version = "zq 0.1.0",
        description = "ZeroQuant in pure Java: load, quantize, run and evaluate transformer models.",
        subcommands = {EmbedCommand.class, InspectCommand.class, QuantizeCommand.class, EvalCommand.class, GenerateCommand.class, BenchCommand.class,
                CommandLine.HelpCommand.class})
public final class Zq {
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit code (tests call this instead of {@link #main}). */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(new Zq());
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> fail(cmd.getErr(), e, describe(e)));
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {   // picocli hands its handler exceptions only; a Java heap too small for the model lands here
            return fail(cl.getErr(), e, "out of memory (" + e.getMessage() + "): give the JVM more, e.g. ZQ_JAVA_OPTS=-Xmx16g");
        }
    }

    /** Bad input is reported as one clear line, not a stack trace (with {@code ZQ_DEBUG} set, the trace as well). */
    private static int fail(PrintWriter err, Throwable e, String line) {
        err.println("zq: " + line);
        if (System.getenv("ZQ_DEBUG") != null) e.printStackTrace(err);
        err.flush();
        return 2;
    }

    /**
     * One line for an exception: its message, except where the JDK's is only a path ({@link NoSuchFileException} and its
     * kin say nothing but the file's name) or there is none.
     */
    static String describe(Throwable e) {
        if (e instanceof UncheckedIOException u && u.getCause() != null) {   // its message is the cause's, or says what it was doing
            String cause = describe(u.getCause());
            return u.getMessage() == null || u.getMessage().equals(u.getCause().toString()) ? cause : u.getMessage() + ": " + cause;
        }
        if (e instanceof FileSystemException f && f.getFile() != null && f.getReason() == null) {
            String why = switch (f) {
                case NoSuchFileException x -> "no such file or directory";
                case AccessDeniedException x -> "permission denied";
                case NotDirectoryException x -> "not a directory";
                case FileAlreadyExistsException x -> "already exists";
                case DirectoryNotEmptyException x -> "directory not empty";
                default -> f.getClass().getSimpleName();
            };
            return f.getFile() + (f.getOtherFile() == null ? "" : " → " + f.getOtherFile()) + ": " + why;
        }
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }
}
