//! safetensors reading and writing with string metadata, for model files and checkpoints.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use safetensors::{Dtype, SafeTensors, View};
use tch::{Device, Kind, Tensor};

struct Bytes {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Bytes {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn to_bytes(t: &Tensor, half: bool) -> Bytes {
    let (kind, dtype) = match (t.kind(), half) {
        (Kind::Float, true) => (Kind::Half, Dtype::F16),
        (Kind::Int64, _) => (Kind::Int64, Dtype::I64),
        _ => (Kind::Float, Dtype::F32),
    };
    let t = t.detach().to_device(Device::Cpu).to_kind(kind).contiguous();
    let numel = t.numel();
    let mut data = vec![0u8; numel * kind.elt_size_in_bytes()];
    t.copy_data_u8(&mut data, numel);
    Bytes { dtype, shape: t.size().iter().map(|&d| d as usize).collect(), data }
}

/// Writes `tensors` with `metadata` to `path` atomically (a temporary file, then a rename), so
/// an interrupted write never leaves a truncated file behind. `half` stores floats as f16.
pub fn save(path: &Path, tensors: &[(String, Tensor)], metadata: HashMap<String, String>, half: bool) -> Result<()> {
    let views: Vec<(String, Bytes)> = tensors.iter().map(|(n, t)| (n.clone(), to_bytes(t, half))).collect();
    let bytes = safetensors::serialize(views.iter().map(|(n, b)| (n.as_str(), b)), &Some(metadata))
        .with_context(|| format!("serialising {}", path.display()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Tells a damaged safetensors file (a JSON header after the 8-byte length) from a foreign one.
fn header_error(path: &Path, bytes: &[u8], e: safetensors::SafeTensorError) -> anyhow::Error {
    if bytes.get(8) == Some(&b'{') {
        anyhow::anyhow!("{} is damaged or truncated ({e})", path.display())
    } else {
        anyhow::anyhow!("{} is not a safetensors file ({e})", path.display())
    }
}

/// Reads every tensor (as f32 / i64 on `device`) and the metadata of a safetensors file.
pub fn load(path: &Path, device: Device) -> Result<(HashMap<String, Tensor>, HashMap<String, String>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&bytes, path, device)
}

/// [`load`] from bytes already in memory; `path` names them in errors.
pub fn parse(bytes: &[u8], path: &Path, device: Device) -> Result<(HashMap<String, Tensor>, HashMap<String, String>)> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| header_error(path, bytes, e))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| anyhow::anyhow!("{} is damaged or truncated ({e})", path.display()))?;
    let mut tensors = HashMap::new();
    for (name, view) in file.tensors() {
        let kind = match view.dtype() {
            Dtype::F32 => Kind::Float,
            Dtype::F16 => Kind::Half,
            Dtype::BF16 => Kind::BFloat16,
            Dtype::I64 => Kind::Int64,
            other => bail!("{}: tensor {name} has unsupported dtype {other:?}", path.display()),
        };
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = Tensor::f_from_data_size(view.data(), &shape, kind)?;
        let t = if kind == Kind::Int64 { t } else { t.to_kind(Kind::Float) };
        tensors.insert(name, t.to_device(device));
    }
    Ok((tensors, metadata))
}

/// The metadata naming a file's format and version, as every lcm file carries it.
pub fn format_metadata(format: &str, version: u32) -> HashMap<String, String> {
    HashMap::from([("format".into(), format.into()), ("format_version".into(), version.to_string())])
}

/// Checks that `meta` names `format` at `version` (see [`format_metadata`]).
pub fn check_format(meta: &HashMap<String, String>, format: &str, version: u32) -> Result<()> {
    match meta.get("format").map(String::as_str) {
        Some(f) if f == format => {}
        Some(other) => bail!("it is a '{other}' file, not an '{format}' file"),
        None => bail!("it has no lcm metadata (not written by lcm)"),
    }
    let found: u32 = meta.get("format_version").and_then(|v| v.parse().ok()).context("format_version is missing")?;
    if found != version {
        bail!("format version {found} is not supported (this build reads version {version})");
    }
    Ok(())
}
