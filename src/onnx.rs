//! Reading and writing ONNX files.
//!
//! The messages below are the subset of `onnx.proto` that mien's models and the
//! BlazeFace face detector use, with the field numbers of the official schema, so
//! files round-trip through `onnx.checker`, onnxruntime, tract and wonnx.
//! Fields not listed here are dropped when a file is re-encoded.

use prost::Message;

/// `TensorProto.DataType.FLOAT`.
pub const FLOAT: i32 = 1;
/// `TensorProto.DataType.INT8`.
pub const INT8: i32 = 3;
/// `TensorProto.DataType.INT64`.
pub const INT64: i32 = 7;
/// `TensorProto.DataType.FLOAT16`.
pub const FLOAT16: i32 = 10;

#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    #[prost(string, tag = "2")]
    pub producer_name: String,
    #[prost(string, tag = "3")]
    pub producer_version: String,
    #[prost(string, tag = "4")]
    pub domain: String,
    #[prost(int64, tag = "5")]
    pub model_version: i64,
    #[prost(string, tag = "6")]
    pub doc_string: String,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    pub domain: String,
    #[prost(int64, tag = "2")]
    pub version: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct StringStringEntryProto {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    #[prost(string, tag = "10")]
    pub doc_string: String,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub op_type: String,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    #[prost(string, tag = "6")]
    pub doc_string: String,
    #[prost(string, tag = "7")]
    pub domain: String,
}

/// `AttributeProto.AttributeType` values used here.
pub mod attr_type {
    pub const FLOAT: i32 = 1;
    pub const INT: i32 = 2;
    pub const STRING: i32 = 3;
    pub const TENSOR: i32 = 4;
    pub const FLOATS: i32 = 6;
    pub const INTS: i32 = 7;
}

#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(float, tag = "2")]
    pub f: f32,
    #[prost(int64, tag = "3")]
    pub i: i64,
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
    #[prost(string, tag = "13")]
    pub doc_string: String,
    #[prost(int32, tag = "20")]
    pub r#type: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    #[prost(string, tag = "8")]
    pub name: String,
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
    #[prost(string, tag = "12")]
    pub doc_string: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
    #[prost(string, tag = "3")]
    pub doc_string: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct TypeProto {
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TensorTypeProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TensorTypeProto {
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Dimension {
    #[prost(int64, optional, tag = "1")]
    pub dim_value: Option<i64>,
    #[prost(string, optional, tag = "2")]
    pub dim_param: Option<String>,
}

/// Why an ONNX file could not be read.
#[derive(Debug)]
pub struct OnnxError(pub String);

impl std::fmt::Display for OnnxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OnnxError {}

impl ModelProto {
    /// Parses an ONNX file's bytes.
    pub fn decode_bytes(bytes: &[u8]) -> Result<Self, OnnxError> {
        let model = ModelProto::decode(bytes)
            .map_err(|e| OnnxError(format!("not a readable ONNX model ({e})")))?;
        if model.graph.is_none() {
            return Err(OnnxError("the ONNX file has no graph".into()));
        }
        Ok(model)
    }

    /// Serialises the model to the ONNX protobuf encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    /// The value of one `metadata_props` entry.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata_props
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    }

    /// Sets (or replaces) one `metadata_props` entry.
    pub fn set_metadata(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.metadata_props.iter_mut().find(|p| p.key == key) {
            Some(p) => p.value = value,
            None => self.metadata_props.push(StringStringEntryProto {
                key: key.to_string(),
                value,
            }),
        }
    }
}

impl TensorProto {
    /// A float tensor stored as little-endian `raw_data`.
    pub fn from_f32(name: &str, dims: &[i64], values: &[f32]) -> Self {
        debug_assert_eq!(dims.iter().product::<i64>() as usize, values.len());
        TensorProto {
            name: name.to_string(),
            dims: dims.to_vec(),
            data_type: FLOAT,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        }
    }

    /// An int64 tensor stored as little-endian `raw_data`.
    pub fn from_i64(name: &str, dims: &[i64], values: &[i64]) -> Self {
        TensorProto {
            name: name.to_string(),
            dims: dims.to_vec(),
            data_type: INT64,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        }
    }

    /// The values of an int64 tensor, wherever they are stored.
    pub fn i64_values(&self) -> Option<Vec<i64>> {
        if self.data_type != INT64 {
            return None;
        }
        if !self.int64_data.is_empty() {
            return Some(self.int64_data.clone());
        }
        Some(
            self.raw_data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
        )
    }

    /// The values of a float tensor, wherever they are stored.
    pub fn f32_values(&self) -> Option<Vec<f32>> {
        if self.data_type != FLOAT {
            return None;
        }
        if !self.float_data.is_empty() {
            return Some(self.float_data.clone());
        }
        Some(
            self.raw_data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4])))
                .collect(),
        )
    }
}

impl ValueInfoProto {
    /// A float tensor value with a fully static shape.
    pub fn f32_tensor(name: &str, shape: &[i64]) -> Self {
        ValueInfoProto {
            name: name.to_string(),
            r#type: Some(TypeProto {
                tensor_type: Some(TensorTypeProto {
                    elem_type: FLOAT,
                    shape: Some(TensorShapeProto {
                        dim: shape
                            .iter()
                            .map(|&d| Dimension {
                                dim_value: Some(d),
                                dim_param: None,
                            })
                            .collect(),
                    }),
                }),
            }),
            doc_string: String::new(),
        }
    }

    /// The static shape, if every dimension is a number.
    pub fn static_shape(&self) -> Option<Vec<i64>> {
        let shape = self.r#type.as_ref()?.tensor_type.as_ref()?.shape.as_ref()?;
        shape.dim.iter().map(|d| d.dim_value).collect()
    }
}

impl AttributeProto {
    pub fn int(name: &str, i: i64) -> Self {
        AttributeProto {
            name: name.into(),
            i,
            r#type: attr_type::INT,
            ..Default::default()
        }
    }

    pub fn ints(name: &str, ints: &[i64]) -> Self {
        AttributeProto {
            name: name.into(),
            ints: ints.to_vec(),
            r#type: attr_type::INTS,
            ..Default::default()
        }
    }

    pub fn float(name: &str, f: f32) -> Self {
        AttributeProto {
            name: name.into(),
            f,
            r#type: attr_type::FLOAT,
            ..Default::default()
        }
    }

    pub fn tensor(name: &str, t: TensorProto) -> Self {
        AttributeProto {
            name: name.into(),
            t: Some(t),
            r#type: attr_type::TENSOR,
            ..Default::default()
        }
    }
}

impl NodeProto {
    pub fn new(
        op_type: &str,
        name: &str,
        inputs: &[&str],
        outputs: &[&str],
        attribute: Vec<AttributeProto>,
    ) -> Self {
        NodeProto {
            op_type: op_type.to_string(),
            name: name.to_string(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `y = relu(x * w + b)` on a [1, 3] input: small, but every message type we write.
    fn tiny_model() -> ModelProto {
        let graph = GraphProto {
            name: "tiny".into(),
            node: vec![
                NodeProto::new(
                    "Gemm",
                    "fc",
                    &["x", "w", "b"],
                    &["h"],
                    vec![AttributeProto::float("alpha", 1.0)],
                ),
                NodeProto::new("Relu", "relu", &["h"], &["y"], vec![]),
            ],
            initializer: vec![
                TensorProto::from_f32("w", &[3, 2], &[1.0, -1.0, 2.0, 0.5, -3.0, 0.25]),
                TensorProto::from_f32("b", &[2], &[0.5, -0.5]),
            ],
            input: vec![ValueInfoProto::f32_tensor("x", &[1, 3])],
            output: vec![ValueInfoProto::f32_tensor("y", &[1, 2])],
            value_info: vec![ValueInfoProto::f32_tensor("h", &[1, 2])],
            ..Default::default()
        };
        let mut model = ModelProto {
            ir_version: 7,
            producer_name: "mien-test".into(),
            graph: Some(graph),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            ..Default::default()
        };
        model.set_metadata("k", "v");
        model
    }

    #[test]
    fn write_read_round_trip() {
        let model = tiny_model();
        let bytes = model.to_bytes();
        let back = ModelProto::decode_bytes(&bytes).unwrap();
        assert_eq!(back, model);
        assert_eq!(back.metadata("k"), Some("v"));
        let g = back.graph.unwrap();
        assert_eq!(
            g.initializer[0].f32_values().unwrap(),
            vec![1.0, -1.0, 2.0, 0.5, -3.0, 0.25]
        );
        assert_eq!(g.value_info[0].static_shape(), Some(vec![1, 2]));
    }

    #[test]
    fn written_files_run_in_tract() {
        let bytes = tiny_model().to_bytes();
        let model = crate::cpu::CpuModel::load(&bytes).unwrap();
        let out = model
            .run(&[crate::cpu::TensorF32 {
                shape: vec![1, 3],
                data: vec![1.0, 2.0, 3.0],
            }])
            .unwrap();
        // h = [1 + 4 - 9 + 0.5, -1 + 1 + 0.75 - 0.5] = [-3.5, 0.25]
        assert_eq!(out[0].data, vec![0.0, 0.25]);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert!(ModelProto::decode_bytes(b"definitely not protobuf \xff\xff").is_err());
        assert!(ModelProto::decode_bytes(&[])
            .unwrap_err()
            .to_string()
            .contains("no graph"));
    }
}
