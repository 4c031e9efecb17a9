package dev.zq.model.format;

import java.util.List;
import java.util.Map;

/** One operator of an ONNX graph. */
public record OnnxNode(String name, String opType, List<String> inputs, List<String> outputs, Map<String, OnnxAttribute> attributes) {
}
