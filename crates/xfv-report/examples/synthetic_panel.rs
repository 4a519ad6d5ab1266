//! Renders a pair panel from a drawn face and Gaussian-blob maps, to look at the layout.
//!
//! `cargo run -p xfv-report --example synthetic_panel -- OUT.png [SIZE] [reject] [shared]`

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

use xfv_core::{Comparison, Verdict};
use xfv_report::{
    DisplayOptions, Normalise, PanelFace, PanelInput, render_panel, write_png_atomic,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = PathBuf::from(
        args.first()
            .map_or("/tmp/xfv_report_panel.png", String::as_str),
    );
    let size: usize = args.get(1).map_or(Ok(112), |s| s.parse())?;
    let reject = args.iter().any(|a| a == "reject");
    let shared = args.iter().any(|a| a == "shared");

    let crop_a = common::synthetic_face(size, size, 0.0);
    let crop_b = common::synthetic_face(size, size, 4.0);
    let [sim_a, dis_a, sim_b, dis_b] = common::synthetic_maps(size, size);
    let score = if reject { 0.212 } else { 0.748 };
    let input = PanelInput {
        a: PanelFace {
            crop: crop_a.view(),
            name: "obama.jpg",
            similarity: sim_a.view(),
            dissimilarity: dis_a.view(),
        },
        b: PanelFace {
            crop: crop_b.view(),
            name: if reject {
                "biden.jpg"
            } else {
                "obama2_ünïcode_名前.jpg"
            },
            similarity: sim_b.view(),
            dissimilarity: dis_b.view(),
        },
        model: "sface",
        method: "FGGB",
        verdict: Verdict::decide(Comparison::Cosine, score, 0.363),
    };
    let options = DisplayOptions {
        normalise: if shared {
            Normalise::SharedPerPair
        } else {
            Normalise::PerMap
        },
        ..DisplayOptions::default()
    };
    write_png_atomic(&out, &render_panel(&input, &options)?)?;
    Ok(())
}
