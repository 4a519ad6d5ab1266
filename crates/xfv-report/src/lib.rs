//! xfv's pictures and files: turns raw explanation maps and aligned crops into a panel PNG a
//! person reads at a glance, raw `.npy` maps for Python, and JSON records - all written
//! atomically.
//!
//! Visualisation lives here and only here (house rule: keep raw maps as data). The explanation
//! engine hands over raw non-negative `f32` maps of the crop's `H x W`; this crate never changes
//! them. [`write_npy_f32`] stores them as they are; the display pipeline
//! ([`DisplayOptions`]: Gaussian blur 25/5 -> min-max to `[0, 1]` -> perceptual colour map ->
//! overlay at alpha 0.5, spec step 8) works on copies, only for pictures.
//!
//! ```
//! use ndarray::{Array2, Array3};
//! use xfv_core::{Comparison, Verdict};
//! use xfv_report::{DisplayOptions, PanelFace, PanelInput, PanelLayout, render_panel};
//!
//! // A synthetic 112x112 "face" and Gaussian-blob maps (eyes similar, mouth dissimilar).
//! let (h, w) = (112, 112);
//! let crop = Array3::<u8>::from_shape_fn((h, w, 3), |(y, x, c)| {
//!     let d = ((y as f32 - 56.0).powi(2) / 45.0f32.powi(2)
//!         + (x as f32 - 56.0).powi(2) / 35.0f32.powi(2)) < 1.0;
//!     if d { [224, 172, 140][c] } else { 90 }
//! });
//! let blob = |cy: f32, cx: f32| {
//!     Array2::from_shape_fn((h, w), |(y, x)| {
//!         (-((y as f32 - cy).powi(2) + (x as f32 - cx).powi(2)) / 200.0).exp()
//!     })
//! };
//! let (sim, dis) = (blob(45.0, 40.0) + blob(45.0, 72.0), blob(85.0, 56.0));
//! let face = PanelFace {
//!     crop: crop.view(),
//!     name: "a.jpg",
//!     similarity: sim.view(),
//!     dissimilarity: dis.view(),
//! };
//! let input = PanelInput {
//!     a: face,
//!     b: PanelFace { name: "b.jpg", ..face },
//!     model: "sface",
//!     method: "FGGB",
//!     verdict: Verdict::decide(Comparison::Cosine, 0.748, 0.363),
//! };
//! let panel = render_panel(&input, &DisplayOptions::default())?;
//! let layout = PanelLayout::new(h, w, 2);
//! assert_eq!(panel.dimensions(), (layout.width, layout.height));
//! assert_eq!(panel.dimensions(), (712, 648));
//!
//! let dir = tempfile::tempdir()?;
//! xfv_report::write_png_atomic(&dir.path().join("pair.png"), &panel)?;
//! xfv_report::write_npy_f32(&dir.path().join("a_similarity.npy"), sim.view())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Shape of the crate: one module per job - [`npy`](write_npy_f32) files, display maps
//! ([`DisplayOptions`], [`GaussianBlur`], [`Normalise`], [`ColourMap`]), the panel
//! ([`render_panel`], [`PanelLayout`]) and atomic writers ([`write_png_atomic`],
//! [`write_json_atomic`]). Text is drawn with the public-domain 8x8 bitmap font of the
//! `font8x8` crate (printable ASCII; anything else is drawn as `?`).
#![deny(missing_docs)]

mod atomic;
mod colour;
mod display;
mod error;
mod npy;
mod panel;
mod text;

pub use atomic::{write_bytes_atomic, write_json_atomic, write_png_atomic};
pub use colour::ColourMap;
pub use display::{
    DisplayOptions, GaussianBlur, Normalise, finite_range, heatmap, min_max, min_max_with, overlay,
};
pub use error::{Error, Result};
pub use npy::{read_npy_f32, write_npy_f32};
pub use panel::{
    ACCEPT_RGB, PanelFace, PanelInput, PanelLayout, REJECT_RGB, crop_view, render_panel,
};
