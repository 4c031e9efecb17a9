package dev.zq.model.bert;

import dev.zq.model.ModelFormatException;
import dev.zq.model.format.OnnxModel;
import dev.zq.model.format.SafeTensors;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A loaded BERT encoder together with the memory it lives in: the mapped weight file and the arena of
 * converted copies. Close it to unmap; the encoder must not be used afterwards.
 */
public final class BertModel implements AutoCloseable {
    private final BertEncoder encoder;
    private final Arena arena;
    private final AutoCloseable source;
    private final Path path;

    private BertModel(BertEncoder encoder, Arena arena, AutoCloseable source, Path path) {
        this.encoder = encoder;
        this.arena = arena;
        this.source = source;
        this.path = path;
    }

    /**
     * Opens {@code path}: an {@code .onnx} file, or a directory holding {@code model.onnx}, or HF's
     * {@code config.json} + {@code model.safetensors}.
     */
    public static BertModel open(Path path) throws ModelFormatException {
        Path onnx = Files.isDirectory(path) ? path.resolve("model.onnx") : path;
        Arena arena = Arena.ofShared();
        try {
            if (Files.isRegularFile(onnx) && onnx.getFileName().toString().endsWith(".onnx")) {
                OnnxModel m = OnnxModel.read(onnx);
                try {
                    return new BertModel(BertOnnxLoader.load(m, arena), arena, m, path);
                } catch (ModelFormatException | RuntimeException e) {
                    m.close();
                    throw e;
                }
            }
            Path st = path.resolve("model.safetensors");
            if (Files.isDirectory(path) && Files.isRegularFile(st)) {
                SafeTensors w = SafeTensors.open(st);
                try {
                    return new BertModel(BertCheckpoint.load(path, w, arena), arena, w, path);
                } catch (ModelFormatException | RuntimeException e) {
                    w.close();
                    throw e;
                }
            }
            throw ModelFormatException.of(path, "not a BERT model: expected an .onnx file, or a directory with model.onnx or config.json + model.safetensors");
        } catch (ModelFormatException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Opens a model path; lets other modules add formats (quantized files) without this one knowing them. */
    @FunctionalInterface
    public interface Opener {
        BertModel open(Path path) throws ModelFormatException;
    }

    /** A model from parts: {@code arena} and {@code source} are closed with it. */
    public static BertModel of(BertEncoder encoder, Arena arena, AutoCloseable source, Path path) {
        return new BertModel(encoder, arena, source, path);
    }

    public BertEncoder encoder() { return encoder; }
    public Path path() { return path; }

    @Override
    public void close() {
        try {
            source.close();
        } catch (Exception e) {
            throw new IllegalStateException("closing " + path, e);
        } finally {
            arena.close();
        }
    }
}
