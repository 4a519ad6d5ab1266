//! RGB8 crops to model input tensors: colour order and `(pixel - mean) / std` from the
//! model's [`InputSpec`], NCHW f32.

use image::RgbImage;
use ndarray::{Array3, Array4, ArrayViewMut3, Axis};
use xfv_core::{AlignedBatch, ColourOrder, InputSpec, ModelManifest};

use crate::{AlignedFace, Error};

/// Writes `image` into `out` (`[3, H, W]`, same size as the image) as
/// `out[c] = (pixel[order[c]] - mean[c]) / std[c]`.
pub(crate) fn write_chw(image: &RgbImage, input: &InputSpec, mut out: ArrayViewMut3<'_, f32>) {
    let order: [usize; 3] = match input.colour_order {
        ColourOrder::Rgb => [0, 1, 2],
        ColourOrder::Bgr => [2, 1, 0],
    };
    for (x, y, p) in image.enumerate_pixels() {
        for (c, &src) in order.iter().enumerate() {
            out[[c, y as usize, x as usize]] = (f32::from(p.0[src]) - input.mean[c]) / input.std[c];
        }
    }
}

impl AlignedFace {
    /// The crop as the model's input, `[3, H, W]` f32 in the manifest's colour order and
    /// scaling. [`Error::ShapeMismatch`] when the crop is not the manifest's size.
    pub fn to_tensor(&self, manifest: &ModelManifest) -> Result<Array3<f32>, Error> {
        let input = &manifest.input;
        let (w, h) = self.crop.dimensions();
        if (w, h) != (input.width_px, input.height_px) {
            return Err(Error::ShapeMismatch {
                tensor: format!("aligned crop of {}", self.origin.path.display()),
                expected: vec![input.height_px as usize, input.width_px as usize, 3],
                got: vec![h as usize, w as usize, 3],
            });
        }
        let mut out = Array3::<f32>::zeros((3, h as usize, w as usize));
        write_chw(&self.crop, input, out.view_mut());
        Ok(out)
    }
}

/// Stacks aligned faces into one [`AlignedBatch`] for `manifest`'s model: the tensor
/// `[N, 3, H, W]`, the RGB8 crops `[N, H, W, 3]` and the origins, in the given order.
pub fn into_aligned_batch(
    faces: Vec<AlignedFace>,
    manifest: &ModelManifest,
) -> Result<AlignedBatch, Error> {
    let (w, h) = (
        manifest.input.width_px as usize,
        manifest.input.height_px as usize,
    );
    let n = faces.len();
    let mut tensor = Array4::<f32>::zeros((n, 3, h, w));
    let mut rgb8 = Array4::<u8>::zeros((n, h, w, 3));
    let mut origins = Vec::with_capacity(n);
    for (i, face) in faces.into_iter().enumerate() {
        tensor
            .index_axis_mut(Axis(0), i)
            .assign(&face.to_tensor(manifest)?);
        let crop = Array3::from_shape_vec((h, w, 3), face.crop.into_raw()).map_err(|_| {
            Error::ShapeMismatch {
                tensor: "aligned crop bytes".into(),
                expected: vec![h, w, 3],
                got: vec![],
            }
        })?;
        rgb8.index_axis_mut(Axis(0), i).assign(&crop);
        origins.push(face.origin);
    }
    Ok(AlignedBatch {
        tensor,
        rgb8,
        origins,
    })
}
