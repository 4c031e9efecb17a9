package dev.zq.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

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
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            // Bad input is reported as one clear line, not a stack trace.
            cmd.getErr().println("zq: " + e.getMessage());
            if (System.getenv("ZQ_DEBUG") != null) e.printStackTrace(cmd.getErr());
            return 2;
        });
        return cl.execute(args);
    }
}
