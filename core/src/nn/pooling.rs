//! Pooling and reshaping layers: `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d`,
//! `MaxPool3d`, `AvgPool3d`, `AdaptiveAvgPool3d`, `Flatten`.

use crate::nn::functional as F;
use crate::tensor::Tensor;
use ferrex_macros::export_module;

/// Max pooling; the stride defaults to the kernel size.
#[export_module]
#[derive(Clone, Debug)]
pub struct MaxPool2d {
    pub kernel_size: [i64; 2],
    pub stride: [i64; 2],
    pub padding: [i64; 2],
    pub dilation: [i64; 2],
    pub ceil_mode: bool,
}

impl MaxPool2d {
    pub fn new(kernel_size: usize) -> MaxPool2d {
        let k = kernel_size as i64;
        MaxPool2d {
            kernel_size: [k; 2],
            stride: [k; 2],
            padding: [0; 2],
            dilation: [1; 2],
            ceil_mode: false,
        }
    }

    /// Sets the stride (builder style).
    pub fn stride(mut self, stride: usize) -> MaxPool2d {
        self.stride = [stride as i64; 2];
        self
    }

    /// Sets the padding (builder style).
    pub fn padding(mut self, padding: usize) -> MaxPool2d {
        self.padding = [padding as i64; 2];
        self
    }
}

#[export_module]
impl MaxPool2d {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::max_pool2d(
            x,
            &self.kernel_size,
            Some(&self.stride),
            &self.padding,
            &self.dilation,
            self.ceil_mode,
        )
    }
}

/// Average pooling; the stride defaults to the kernel size.
#[export_module]
#[derive(Clone, Debug)]
pub struct AvgPool2d {
    pub kernel_size: [i64; 2],
    pub stride: [i64; 2],
    pub padding: [i64; 2],
}

impl AvgPool2d {
    pub fn new(kernel_size: usize) -> AvgPool2d {
        let k = kernel_size as i64;
        AvgPool2d {
            kernel_size: [k; 2],
            stride: [k; 2],
            padding: [0; 2],
        }
    }
}

#[export_module]
impl AvgPool2d {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::avg_pool2d(
            x,
            &self.kernel_size,
            Some(&self.stride),
            &self.padding,
            false,
            true,
            None,
        )
    }
}

/// Average pooling to a fixed output size.
#[export_module]
#[derive(Clone, Debug)]
pub struct AdaptiveAvgPool2d {
    pub output_size: [i64; 2],
}

impl AdaptiveAvgPool2d {
    pub fn new(output_size: [usize; 2]) -> AdaptiveAvgPool2d {
        AdaptiveAvgPool2d {
            output_size: [output_size[0] as i64, output_size[1] as i64],
        }
    }
}

#[export_module]
impl AdaptiveAvgPool2d {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::adaptive_avg_pool2d(x, &self.output_size)
    }
}

/// 3-D max pooling; the stride defaults to the kernel size.
#[export_module]
#[derive(Clone, Debug)]
pub struct MaxPool3d {
    pub kernel_size: [i64; 3],
    pub stride: [i64; 3],
    pub padding: [i64; 3],
    pub dilation: [i64; 3],
    pub ceil_mode: bool,
}

impl MaxPool3d {
    pub fn new(kernel_size: usize) -> MaxPool3d {
        let k = kernel_size as i64;
        MaxPool3d {
            kernel_size: [k; 3],
            stride: [k; 3],
            padding: [0; 3],
            dilation: [1; 3],
            ceil_mode: false,
        }
    }

    /// Sets the stride (builder style).
    pub fn stride(mut self, stride: usize) -> MaxPool3d {
        self.stride = [stride as i64; 3];
        self
    }

    /// Sets the padding (builder style).
    pub fn padding(mut self, padding: usize) -> MaxPool3d {
        self.padding = [padding as i64; 3];
        self
    }
}

#[export_module]
impl MaxPool3d {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::max_pool3d(
            x,
            &self.kernel_size,
            Some(&self.stride),
            &self.padding,
            &self.dilation,
            self.ceil_mode,
        )
    }
}

/// 3-D average pooling; the stride defaults to the kernel size.
#[export_module]
#[derive(Clone, Debug)]
pub struct AvgPool3d {
    pub kernel_size: [i64; 3],
    pub stride: [i64; 3],
    pub padding: [i64; 3],
}

impl AvgPool3d {
    pub fn new(kernel_size: usize) -> AvgPool3d {
        let k = kernel_size as i64;
        AvgPool3d {
            kernel_size: [k; 3],
            stride: [k; 3],
            padding: [0; 3],
        }
    }
}

#[export_module]
impl AvgPool3d {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::avg_pool3d(
            x,
            &self.kernel_size,
            Some(&self.stride),
            &self.padding,
            false,
            true,
            None,
        )
    }
}

/// 3-D average pooling to a fixed output size.
#[export_module]
#[derive(Clone, Debug)]
pub struct AdaptiveAvgPool3d {
    pub output_size: [i64; 3],
}

impl AdaptiveAvgPool3d {
    pub fn new(output_size: [usize; 3]) -> AdaptiveAvgPool3d {
        AdaptiveAvgPool3d {
            output_size: output_size.map(|s| s as i64),
        }
    }
}

#[export_module]
impl AdaptiveAvgPool3d {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        F::adaptive_avg_pool3d(x, &self.output_size)
    }
}

/// Flattens dims `start_dim..=end_dim` into one (default: all but the batch dim).
#[export_module]
#[derive(Clone, Debug)]
pub struct Flatten {
    pub start_dim: i64,
    pub end_dim: i64,
}

impl Default for Flatten {
    fn default() -> Flatten {
        Flatten {
            start_dim: 1,
            end_dim: -1,
        }
    }
}

#[export_module]
impl Flatten {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.flatten(self.start_dim, self.end_dim)
    }
}
