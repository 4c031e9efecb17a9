package dev.zq.model.format;

import java.util.List;

/** A graph input or output: name, ONNX element type and dims (a number, or the symbolic dim_param name). */
public record OnnxValueInfo(String name, int elemType, List<String> dims) {
    @Override
    public String toString() { return name + dims; }
}
