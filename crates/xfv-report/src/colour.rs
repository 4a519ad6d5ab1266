//! Perceptual colour maps, in RGB order (never BGR).
//!
//! The tables are compact sets of evenly spaced control points, interpolated linearly in sRGB.
//! They approximate matplotlib's `inferno` and `viridis` (van der Walt and Smith, 2015), whose
//! lightness rises monotonically from 0 to 1 so that "brighter" reads as "more" and the map
//! survives grey-scale printing and the common colour-vision deficiencies (unlike `jet`).

/// A perceptual colour map from a value in `[0, 1]` to an sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColourMap {
    /// Black - purple - red - orange - pale yellow. The default: on an overlay, low values
    /// darken the face and high values glow, so attention reads as light.
    #[default]
    Inferno,
    /// Dark blue - teal - green - yellow.
    Viridis,
}

/// Control points of `inferno`, evenly spaced over [0, 1].
const INFERNO: [[u8; 3]; 10] = [
    [0, 0, 4],
    [27, 12, 66],
    [75, 12, 107],
    [120, 28, 109],
    [165, 44, 96],
    [207, 68, 70],
    [237, 105, 37],
    [251, 154, 6],
    [247, 208, 60],
    [252, 255, 164],
];

/// Control points of `viridis`, evenly spaced over [0, 1].
const VIRIDIS: [[u8; 3]; 9] = [
    [68, 1, 84],
    [71, 45, 123],
    [59, 82, 139],
    [44, 114, 142],
    [33, 144, 140],
    [39, 173, 129],
    [93, 200, 99],
    [170, 220, 50],
    [253, 231, 37],
];

impl ColourMap {
    /// The colour of `value`, clamped to `[0, 1]`; a non-finite value gets the colour of 0.
    pub fn rgb(self, value: f32) -> [u8; 3] {
        let c = self.rgb_f32(value);
        [to_u8(c[0]), to_u8(c[1]), to_u8(c[2])]
    }

    /// The colour of `value` as three floats in `0..=255` (before rounding), for blending.
    pub fn rgb_f32(self, value: f32) -> [f32; 3] {
        let table: &[[u8; 3]] = match self {
            ColourMap::Inferno => &INFERNO,
            ColourMap::Viridis => &VIRIDIS,
        };
        let v = if value.is_finite() {
            value.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let last = table.len() - 1;
        let pos = v * last as f32;
        // `pos` lies in [0, last]; the cast truncates towards zero.
        let i = (pos as usize).min(last - 1);
        let t = pos - i as f32;
        let (a, b) = (table[i], table[i + 1]);
        std::array::from_fn(|c| f32::from(a[c]) + (f32::from(b[c]) - f32::from(a[c])) * t)
    }

    /// The map's name as matplotlib spells it.
    pub fn name(self) -> &'static str {
        match self {
            ColourMap::Inferno => "inferno",
            ColourMap::Viridis => "viridis",
        }
    }
}

pub(crate) fn to_u8(v: f32) -> u8 {
    // clamped first, so the cast cannot wrap
    v.round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative luminance (WCAG / Rec. 709) of an sRGB colour.
    fn luminance(c: [f32; 3]) -> f64 {
        let lin = |u: f32| {
            let v = f64::from(u) / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
    }

    #[test]
    fn endpoints_are_the_published_colours() {
        assert_eq!(ColourMap::Inferno.rgb(0.0), [0, 0, 4]);
        assert_eq!(ColourMap::Inferno.rgb(1.0), [252, 255, 164]);
        assert_eq!(ColourMap::Viridis.rgb(0.0), [68, 1, 84]);
        assert_eq!(ColourMap::Viridis.rgb(1.0), [253, 231, 37]);
        // out of range and non-finite values clamp instead of panicking
        assert_eq!(ColourMap::Inferno.rgb(-3.0), ColourMap::Inferno.rgb(0.0));
        assert_eq!(ColourMap::Inferno.rgb(7.0), ColourMap::Inferno.rgb(1.0));
        assert_eq!(
            ColourMap::Viridis.rgb(f32::NAN),
            ColourMap::Viridis.rgb(0.0)
        );
    }

    #[test]
    fn rgb_order_not_bgr() {
        // inferno's high end is yellow (red and green high, blue lower); viridis's low end is
        // purple-blue (blue above red): a BGR mix-up flips both.
        let hi = ColourMap::Inferno.rgb(0.85);
        assert!(hi[0] > hi[2] && hi[1] > hi[2], "{hi:?}");
        let lo = ColourMap::Viridis.rgb(0.1);
        assert!(lo[2] > lo[0], "{lo:?}");
    }

    #[test]
    fn luminance_rises_monotonically() {
        for map in [ColourMap::Inferno, ColourMap::Viridis] {
            let mut prev = -1.0;
            for i in 0..=1000 {
                let l = luminance(map.rgb_f32(i as f32 / 1000.0));
                assert!(l > prev, "{map:?} at {i}: {l} <= {prev}");
                prev = l;
            }
            let span = luminance(map.rgb_f32(1.0)) - luminance(map.rgb_f32(0.0));
            assert!(span > 0.5, "{map:?}: {span}");
        }
    }
}
