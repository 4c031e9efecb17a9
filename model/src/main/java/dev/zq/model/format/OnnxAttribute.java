package dev.zq.model.format;

import dev.zq.tensor.Tensor;

import java.util.List;

/**
 * An operator attribute. {@code type} is ONNX's AttributeType (1 FLOAT, 2 INT, 3 STRING, 4 TENSOR, 5 GRAPH,
 * 6 FLOATS, 7 INTS, 8 STRINGS, …); only the field that type names is meaningful. Sub-graphs are not kept.
 */
public record OnnxAttribute(String name, int type, long i, float f, String s, long[] ints, float[] floats, List<String> strings, Tensor t) {
}
