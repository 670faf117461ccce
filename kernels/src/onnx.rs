//! ONNX export with `onnx-protobuf` (opset 17, IR version 8).
//!
//! Both graphs take `input` (float, `[N, features]`, `N` symbolic) and return `probabilities`
//! (Softmax over the last axis) and `logits` (float, `[N, classes]`).
//!
//! - fp32, per layer `i`: `MatMul(h, W{i})` → `Add(·, B{i})` → `Relu` (not after the last layer).
//! - int8, per layer `i`: `DynamicQuantizeLinear(h)` → `(h_q, h_scale, h_zp)`;
//!   `MatMulInteger(h_q, W{i}_q, h_zp)` (uint8 × int8 → int32; B's zero point defaults to 0, the
//!   weights being symmetric) → `Cast` to float → `Mul` by `Mul(h_scale, W{i}_scale)` (per
//!   column) → `Add(·, B{i})` → `Relu`. This is exactly [`crate::quant::int8::Int8Mlp::logits`].
//!
//! Initializers carry `raw_data` in little-endian; nothing in the file depends on time or
//! hash-map order, so the bytes (and the model id) are a function of the weights alone.

use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::tensor_shape_proto::{Dimension, dimension};
use onnx_protobuf::type_proto;
use onnx_protobuf::{
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto,
};

use crate::KernelsError;
use crate::mlp::Mlp;
use crate::quant::int8::Int8Mlp;

/// Opset of the default domain.
pub const OPSET: i64 = 17;
/// ONNX IR version written.
pub const IR_VERSION: i64 = 8;
/// Name of the graph input.
pub const INPUT: &str = "input";
/// Name of the probability output.
pub const PROBABILITIES: &str = "probabilities";
/// Name of the logit output.
pub const LOGITS: &str = "logits";
/// The symbolic batch dimension.
pub const BATCH_DIM: &str = "N";

/// Metadata written into the model's `metadata_props` and `doc_string`.
#[derive(Debug, Clone, Default)]
pub struct ExportMeta {
    /// Graph name (the model name, e.g. `teacher-fp32`).
    pub name: String,
    /// Model version string.
    pub version: String,
    /// Free text for `doc_string`.
    pub doc: String,
    /// Extra key/value pairs (dataset id, parent id…), written in the given order.
    pub props: Vec<(String, String)>,
}

fn value_info(name: &str, elem: DataType, features: usize) -> ValueInfoProto {
    let dim = |value| {
        let mut d = Dimension::new();
        d.value = Some(value);
        d
    };
    let mut shape = TensorShapeProto::new();
    shape.dim =
        vec![dim(dimension::Value::DimParam(BATCH_DIM.into())), dim(dimension::Value::DimValue(features as i64))];
    let mut tensor = type_proto::Tensor::new();
    tensor.elem_type = elem as i32;
    tensor.shape = Some(shape).into();
    let mut ty = TypeProto::new();
    ty.value = Some(type_proto::Value::TensorType(tensor));
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    v.type_ = Some(ty).into();
    v
}

fn tensor(name: &str, elem: DataType, dims: &[usize], raw: Vec<u8>) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.data_type = elem as i32;
    t.dims = dims.iter().map(|&d| d as i64).collect();
    t.raw_data = raw;
    t
}

fn f32_bytes(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
    values.into_iter().flat_map(f32::to_le_bytes).collect()
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    let mut n = NodeProto::new();
    n.op_type = op.into();
    n.name = name.into();
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = outputs.iter().map(|s| s.to_string()).collect();
    n
}

fn int_attr(name: &str, value: i64) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = attribute_proto::AttributeType::INT.into();
    a.i = value;
    a
}

/// Row-major bytes of an `in × out` matrix (ONNX `MatMul`'s B layout).
fn weight_bytes(w: &nalgebra::DMatrix<f32>) -> Vec<u8> {
    f32_bytes((0..w.nrows()).flat_map(|k| (0..w.ncols()).map(move |j| w[(k, j)])))
}

fn finish(meta: &ExportMeta, mut graph: GraphProto, features: usize, classes: usize) -> Result<Vec<u8>, KernelsError> {
    let mut softmax = node("Softmax", "softmax", &[LOGITS], &[PROBABILITIES]);
    softmax.attribute.push(int_attr("axis", -1));
    graph.node.push(softmax);
    graph.name = meta.name.clone();
    graph.input.push(value_info(INPUT, DataType::FLOAT, features));
    graph.output.push(value_info(PROBABILITIES, DataType::FLOAT, classes));
    graph.output.push(value_info(LOGITS, DataType::FLOAT, classes));

    let mut model = ModelProto::new();
    model.ir_version = IR_VERSION;
    let mut opset = OperatorSetIdProto::new();
    opset.domain = String::new();
    opset.version = OPSET;
    model.opset_import.push(opset);
    model.producer_name = "servesim-kernels".into();
    model.producer_version = meta.version.clone();
    model.doc_string = meta.doc.clone();
    for (k, v) in &meta.props {
        let mut e = StringStringEntryProto::new();
        e.key = k.clone();
        e.value = v.clone();
        model.metadata_props.push(e);
    }
    model.graph = Some(graph).into();
    Ok(model.write_to_bytes()?)
}

/// The fp32 graph of `model`.
pub fn export_fp32(model: &Mlp, meta: &ExportMeta) -> Result<Vec<u8>, KernelsError> {
    let mut graph = GraphProto::new();
    let n = model.layers.len();
    let mut h = INPUT.to_string();
    for (i, layer) in model.layers.iter().enumerate() {
        let (w, b) = (format!("W{i}"), format!("B{i}"));
        graph.initializer.push(tensor(
            &w,
            DataType::FLOAT,
            &[layer.w.nrows(), layer.w.ncols()],
            weight_bytes(&layer.w),
        ));
        graph.initializer.push(tensor(&b, DataType::FLOAT, &[layer.b.len()], f32_bytes(layer.b.iter().copied())));
        let mm = format!("l{i}_matmul");
        let z = if i + 1 == n { LOGITS.to_string() } else { format!("l{i}_pre") };
        graph.node.push(node("MatMul", &mm, &[&h, &w], &[&mm]));
        graph.node.push(node("Add", &format!("l{i}_add"), &[&mm, &b], &[&z]));
        if i + 1 < n {
            let relu = format!("l{i}_relu");
            graph.node.push(node("Relu", &relu, &[&z], &[&relu]));
            h = relu;
        }
    }
    finish(meta, graph, model.n_inputs(), model.n_outputs())
}

/// The int8 graph of `model` (see the module docs for the node sequence).
pub fn export_int8(model: &Int8Mlp, meta: &ExportMeta) -> Result<Vec<u8>, KernelsError> {
    let mut graph = GraphProto::new();
    let n = model.layers.len();
    let mut h = INPUT.to_string();
    for (i, layer) in model.layers.iter().enumerate() {
        let w = &layer.weights;
        let (wq, ws, b) = (format!("W{i}_q"), format!("W{i}_scale"), format!("B{i}"));
        let raw: Vec<u8> = w.onnx_layout().into_iter().map(|v| v as u8).collect();
        graph.initializer.push(tensor(&wq, DataType::INT8, &[w.in_dim, w.out_dim], raw));
        graph.initializer.push(tensor(&ws, DataType::FLOAT, &[w.out_dim], f32_bytes(w.scales.iter().copied())));
        graph.initializer.push(tensor(&b, DataType::FLOAT, &[layer.bias.len()], f32_bytes(layer.bias.iter().copied())));
        let p = |s: &str| format!("l{i}_{s}");
        let (q, s, zp) = (p("x_q"), p("x_scale"), p("x_zero_point"));
        graph.node.push(node("DynamicQuantizeLinear", &p("quantize"), &[&h], &[&q, &s, &zp]));
        graph.node.push(node("MatMulInteger", &p("matmul_integer"), &[&q, &wq, &zp], &[&p("acc")]));
        let mut cast = node("Cast", &p("cast"), &[&p("acc")], &[&p("acc_f")]);
        cast.attribute.push(int_attr("to", DataType::FLOAT as i64));
        graph.node.push(cast);
        graph.node.push(node("Mul", &p("scale"), &[&s, &ws], &[&p("rescale")]));
        graph.node.push(node("Mul", &p("rescale_mul"), &[&p("acc_f"), &p("rescale")], &[&p("matmul")]));
        let z = if i + 1 == n { LOGITS.to_string() } else { p("pre") };
        graph.node.push(node("Add", &p("add"), &[&p("matmul"), &b], &[&z]));
        if i + 1 < n {
            graph.node.push(node("Relu", &p("relu"), &[&z], &[&p("relu")]));
            h = p("relu");
        }
    }
    let first = &model.layers[0].weights;
    let last = &model.layers[n - 1].weights;
    finish(meta, graph, first.in_dim, last.out_dim)
}

/// Decodes ONNX bytes (to inspect an exported file).
pub fn decode(bytes: &[u8]) -> Result<ModelProto, KernelsError> {
    Ok(ModelProto::parse_from_bytes(bytes)?)
}

/// A model read back from a file written by [`export_fp32`] or [`export_int8`].
#[derive(Debug, Clone, PartialEq)]
pub enum Imported {
    /// An fp32 graph.
    Fp32(Mlp),
    /// An int8 graph.
    Int8(Int8Mlp),
}

/// Reads the weights back from ONNX bytes this crate wrote (initializers `W{i}`/`B{i}`, or
/// `W{i}_q`/`W{i}_scale`/`B{i}`), so tools can evaluate an output directory without the build.
pub fn import(bytes: &[u8]) -> Result<Imported, KernelsError> {
    let model = decode(bytes)?;
    let graph = model.graph.as_ref().ok_or_else(|| KernelsError::InvalidModel("no graph".into()))?;
    let find = |name: &str, elem: DataType| -> Result<Option<&TensorProto>, KernelsError> {
        match graph.initializer.iter().find(|t| t.name == name) {
            None => Ok(None),
            Some(t) if t.data_type == elem as i32 => Ok(Some(t)),
            Some(t) => Err(KernelsError::InvalidModel(format!("{name} has data type {}", t.data_type))),
        }
    };
    let shape2 = |t: &TensorProto| -> Result<(usize, usize), KernelsError> {
        match t.dims[..] {
            [r, c] if r > 0 && c > 0 => Ok((r as usize, c as usize)),
            _ => Err(KernelsError::InvalidModel(format!("{} has dims {:?}", t.name, t.dims))),
        }
    };
    let floats = |t: &TensorProto, n: usize| -> Result<Vec<f32>, KernelsError> {
        if t.raw_data.len() != 4 * n {
            return Err(KernelsError::InvalidModel(format!(
                "{} has {} bytes, expected {}",
                t.name,
                t.raw_data.len(),
                4 * n
            )));
        }
        Ok(t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    };
    let int8 = find("W0_q", DataType::INT8)?.is_some();
    let (mut fp32_layers, mut int8_layers) = (Vec::new(), Vec::new());
    for i in 0.. {
        let b = find(&format!("B{i}"), DataType::FLOAT)?;
        let w = if int8 { find(&format!("W{i}_q"), DataType::INT8)? } else { find(&format!("W{i}"), DataType::FLOAT)? };
        let (Some(w), Some(b)) = (w, b) else { break };
        let (rows, cols) = shape2(w)?;
        let bias = floats(b, cols)?;
        if int8 {
            let s = find(&format!("W{i}_scale"), DataType::FLOAT)?
                .ok_or_else(|| KernelsError::InvalidModel(format!("W{i}_scale missing")))?;
            if w.raw_data.len() != rows * cols {
                return Err(KernelsError::InvalidModel(format!("W{i}_q has {} bytes", w.raw_data.len())));
            }
            // Stored row-major `in × out`; kept channel-major.
            let q = (0..cols).flat_map(|j| (0..rows).map(move |k| w.raw_data[k * cols + j] as i8)).collect();
            let weights = crate::quant::int8::Int8Weights { in_dim: rows, out_dim: cols, q, scales: floats(s, cols)? };
            int8_layers.push(crate::quant::int8::Int8Layer { weights, bias });
        } else {
            let v = floats(w, rows * cols)?;
            let w = nalgebra::DMatrix::from_fn(rows, cols, |k, j| v[k * cols + j]);
            fp32_layers.push(crate::mlp::Dense { w, b: bias.into() });
        }
    }
    match (int8, fp32_layers.is_empty(), int8_layers.is_empty()) {
        (false, false, _) => Ok(Imported::Fp32(Mlp { layers: fp32_layers })),
        (true, _, false) => Ok(Imported::Int8(Int8Mlp { layers: int8_layers })),
        _ => Err(KernelsError::InvalidModel("no layers found".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn meta() -> ExportMeta {
        ExportMeta { name: "m".into(), version: "0".into(), doc: "d".into(), props: vec![("k".into(), "v".into())] }
    }

    fn dims(v: &ValueInfoProto) -> Vec<dimension::Value> {
        match &v.type_.value {
            Some(type_proto::Value::TensorType(t)) => t.shape.dim.iter().map(|d| d.value.clone().unwrap()).collect(),
            _ => panic!("not a tensor type"),
        }
    }

    #[test]
    fn fp32_graph_round_trips_with_ops_shapes_and_symbolic_batch() {
        let model = Mlp::new(&[11, 16, 8, 3], &mut stream(1, "onnx"));
        let bytes = export_fp32(&model, &meta()).unwrap();
        let decoded = decode(&bytes).unwrap();
        assert_eq!((decoded.ir_version, decoded.opset_import[0].version), (IR_VERSION, OPSET));
        let g = decoded.graph.as_ref().unwrap();
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["MatMul", "Add", "Relu", "MatMul", "Add", "Relu", "MatMul", "Add", "Softmax"]);
        let shapes: Vec<(&str, Vec<i64>)> = g.initializer.iter().map(|t| (t.name.as_str(), t.dims.clone())).collect();
        assert_eq!(
            shapes,
            [
                ("W0", vec![11, 16]),
                ("B0", vec![16]),
                ("W1", vec![16, 8]),
                ("B1", vec![8]),
                ("W2", vec![8, 3]),
                ("B2", vec![3])
            ]
        );
        assert_eq!(g.input[0].name, INPUT);
        assert_eq!(dims(&g.input[0]), [dimension::Value::DimParam("N".into()), dimension::Value::DimValue(11)]);
        let outs: Vec<&str> = g.output.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(outs, [PROBABILITIES, LOGITS]);
        assert_eq!(dims(&g.output[0])[1], dimension::Value::DimValue(3));
        // Initializer bytes are the weights, row-major `in × out`, little-endian.
        let w1 = &g.initializer[2].raw_data;
        let at = |k: usize, j: usize| f32::from_le_bytes(w1[4 * (k * 8 + j)..4 * (k * 8 + j) + 4].try_into().unwrap());
        assert_eq!(at(3, 5), model.layers[1].w[(3, 5)]);
        assert_eq!(at(15, 7), model.layers[1].w[(15, 7)]);
        assert_eq!(decoded.metadata_props[0].key, "k");
    }

    #[test]
    fn int8_graph_has_the_quantized_node_chain_and_int8_weights() {
        let model = Mlp::new(&[11, 16, 3], &mut stream(2, "onnx"));
        let q = Int8Mlp::from_fp32(&model);
        let decoded = decode(&export_int8(&q, &meta()).unwrap()).unwrap();
        let g = decoded.graph.as_ref().unwrap();
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        let layer = ["DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul", "Mul", "Add"];
        let mut want: Vec<&str> = layer.to_vec();
        want.push("Relu");
        want.extend(layer);
        want.push("Softmax");
        assert_eq!(ops, want);
        let w0 = g.initializer.iter().find(|t| t.name == "W0_q").unwrap();
        assert_eq!((w0.data_type, w0.dims.clone()), (DataType::INT8 as i32, vec![11, 16]));
        let raw: Vec<i8> = w0.raw_data.iter().map(|&b| b as i8).collect();
        assert_eq!(raw, q.layers[0].weights.onnx_layout());
        assert!(raw.iter().all(|v| v.unsigned_abs() <= 63));
        let scale = g.initializer.iter().find(|t| t.name == "W1_scale").unwrap();
        assert_eq!(scale.dims, vec![3]);
        let mm = &g.node[1];
        assert_eq!(mm.input, ["l0_x_q", "W0_q", "l0_x_zero_point"]);
    }

    #[test]
    fn import_reads_back_exactly_what_was_exported() {
        let model = Mlp::new(&[11, 16, 8, 3], &mut stream(4, "onnx"));
        assert_eq!(import(&export_fp32(&model, &meta()).unwrap()).unwrap(), Imported::Fp32(model.clone()));
        let q = Int8Mlp::from_fp32(&model);
        assert_eq!(import(&export_int8(&q, &meta()).unwrap()).unwrap(), Imported::Int8(q));
        assert!(import(b"not a model").is_err());
    }

    #[test]
    fn export_is_deterministic() {
        let model = Mlp::new(&[4, 8, 2], &mut stream(3, "onnx"));
        assert_eq!(export_fp32(&model, &meta()).unwrap(), export_fp32(&model, &meta()).unwrap());
    }
}
