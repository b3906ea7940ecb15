//! Device selection. The default link drops `libtorch_cuda.so` (torch-sys links with
//! `--as-needed`), so it is loaded at run time before the first CUDA query: the same binary uses
//! the GPU where the full CUDA libtorch is installed and still starts on CPU-only machines.

use std::str::FromStr;

use anyhow::{Result, bail};
use once_cell::sync::Lazy;
use tch::Device;

/// A device as users name it: `auto`, `cpu`, `cuda` or `cuda:N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| format!("unknown device '{s}': use auto, cpu, cuda or cuda:N")),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => write!(f, "auto"),
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Makes glibc's malloc keep freed memory for reuse instead of returning it to the kernel.
///
/// A MAP step allocates and frees the same activation-sized buffers every iteration. By default
/// glibc serves large blocks with fresh `mmap`s and trims freed heap, so every step pays for
/// page faults and zeroing of pages it just gave back (about 15 % of a step on a 2-core CPU,
/// see benches/NOTES.md). Process-wide; called once by the CLI and by the plugin when it loads a
/// model. The cost is that peak host memory stays resident, which a video pipeline reuses on
/// the next frame anyway.
pub fn retain_host_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only changes allocator tuning parameters; it is safe to call at any time.
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        });
    }
}

static CUDA_LOADED: Lazy<bool> = Lazy::new(|| {
    let candidates = [
        "libtorch_cuda.so".to_string(),
        format!("{}/libtorch_cuda.so", env!("LCM_LIBTORCH_LIB")),
    ];
    candidates.iter().any(|name| {
        let name = std::ffi::CString::new(name.as_str()).expect("no NUL in library names");
        // SAFETY: dlopen with a valid C string; the handle is intentionally kept for the
        // process lifetime so libtorch's CUDA hooks stay registered.
        !unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) }.is_null()
    })
});

/// Whether a CUDA device can be used (loads libtorch's CUDA backend on first call).
pub fn cuda_available() -> bool {
    *CUDA_LOADED && tch::Cuda::is_available()
}

impl DeviceChoice {
    /// The concrete device; `auto` is CUDA when available, else CPU. On CUDA this also turns on
    /// cuDNN's autotuner: a restoration repeats one set of shapes for every step and frame.
    pub fn resolve(self) -> Result<Device> {
        let device = self.resolve_unconfigured()?;
        if device.is_cuda() {
            tch::Cuda::cudnn_set_benchmark(true);
        }
        Ok(device)
    }

    fn resolve_unconfigured(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Auto => Ok(if cuda_available() { Device::Cuda(0) } else { Device::Cpu }),
            Self::Cuda(n) => {
                if !cuda_available() {
                    bail!("CUDA was requested but is not available (no GPU, or the CPU-only libtorch is installed: run `scripts/setup.sh --cuda`)");
                }
                let count = tch::Cuda::device_count() as usize;
                if n >= count {
                    bail!("cuda:{n} requested but only {count} CUDA device(s) exist");
                }
                Ok(Device::Cuda(n))
            }
        }
    }
}

/// The number format of the generator's passes inside MAP steps, as users name it: `auto`,
/// `float32` or `bfloat16`. The render that becomes the output is always float32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Precision {
    /// bfloat16 on a CPU with bfloat16 instructions (AMX or AVX-512 BF16), float32 elsewhere.
    #[default]
    Auto,
    Float32,
    BFloat16,
}

impl FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "float32" | "f32" => Ok(Self::Float32),
            "bfloat16" | "bf16" => Ok(Self::BFloat16),
            _ => Err(format!("unknown precision '{s}': use auto, float32 or bfloat16")),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Float32 => "float32",
            Self::BFloat16 => "bfloat16",
        })
    }
}

impl Precision {
    /// The tensor kind MAP steps run the generator in on `device`. bfloat16 is chosen
    /// automatically only on CPUs with bfloat16 instructions: one MAP step took 0.57× float32's
    /// time with AMX and 0.64× with AVX-512 BF16 alone (benches/NOTES.md, benchmarks 21 and 22),
    /// while CPUs without them emulate it, and CUDA's bfloat16 is unmeasured here.
    pub fn kind(self, device: Device) -> tch::Kind {
        match self {
            Self::BFloat16 => tch::Kind::BFloat16,
            Self::Auto if device == Device::Cpu && *CPU_HAS_BF16 => tch::Kind::BFloat16,
            _ => tch::Kind::Float,
        }
    }
}

/// Whether this CPU computes in bfloat16: AMX tiles or AVX-512 BF16 dot products (Linux lists
/// `amx_bf16` or `avx512_bf16` among the CPU's flags), both of which oneDNN uses.
static CPU_HAS_BF16: Lazy<bool> = Lazy::new(|| {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| {
        info.lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|flag| flag == "amx_bf16" || flag == "avx512_bf16"))
    })
});
