//! The drill's picture, checked as a person would see it: run a short drill, open its SVG
//! timeline in headless Chromium, and check the screenshot is a real chart (enough drawn
//! pixels in enough colours), not a blank page or an error box.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Browsers tried, in order.
const BROWSERS: &[&str] = &["chromium", "chromium-browser", "google-chrome"];

pub(crate) fn drill_picture(root: &Path) -> Result<(), String> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let out = target.join("drill-ci");
    let _ = std::fs::remove_dir_all(&out);
    let out_arg = out.to_string_lossy().into_owned();
    crate::run(
        "drill (short)",
        &[
            "run",
            "--quiet",
            "--package",
            "multidb-client",
            "--all-features",
            "--example",
            "drill",
            "--",
            "--duration",
            "1",
            "--quiet",
            "--out",
            &out_arg,
        ],
        &[],
    )?;
    let svg = out.join("timeline.svg");
    let png = out.join("timeline.png");
    let browser = BROWSERS
        .iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .ok_or(
            "[drill picture] no Chromium found: install it (Debian: apt-get install -y chromium), or run .ci/run",
        )?;
    let profile = out.join("chromium-profile");
    let status = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1200,450",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", svg.display()))
        .output()
        .map_err(|e| format!("[drill picture] could not start {browser}: {e}"))?;
    if !status.status.success() {
        return Err(format!(
            "[drill picture] {browser} failed: {}",
            String::from_utf8_lossy(&status.stderr)
        ));
    }
    let verdict = inspect(&png)?;
    eprintln!("xtask: [drill picture] {} -> {verdict}", png.display());
    Ok(())
}

/// Reads the screenshot and judges whether it shows a chart.
fn inspect(png: &Path) -> Result<String, String> {
    let file = std::fs::File::open(png)
        .map_err(|e| format!("[drill picture] no screenshot at {}: {e}", png.display()))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("[drill picture] not a PNG: {e}"))?;
    let size = reader
        .output_buffer_size()
        .ok_or("[drill picture] image too large")?;
    let mut buf = vec![0; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("[drill picture] unreadable PNG: {e}"))?;
    let channels = frame.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..frame.buffer_size()].chunks_exact(channels).collect();
    let drawn = pixels
        .iter()
        .filter(|p| p.iter().take(3).any(|&c| c < 235))
        .count();
    let mut colours: Vec<[u8; 3]> = pixels
        .iter()
        .filter(|p| p.len() >= 3)
        .map(|p| [p[0] & 0xF0, p[1] & 0xF0, p[2] & 0xF0])
        .collect();
    colours.sort_unstable();
    colours.dedup();
    let share = drawn as f64 / pixels.len().max(1) as f64;
    let verdict = format!(
        "{}x{}, {:.1} % drawn, {} colours",
        frame.width,
        frame.height,
        share * 100.0,
        colours.len()
    );
    // A chart with member lines, markers and bands: some ink, several colours.
    if frame.width >= 600 && share >= 0.02 && colours.len() >= 6 {
        Ok(verdict)
    } else {
        Err(format!(
            "[drill picture] the timeline looks empty or broken: {verdict}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) {
        let file = std::fs::File::create(path).unwrap();
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
        encoder.set_color(png::ColorType::Rgb);
        let mut writer = encoder.write_header().unwrap();
        let mut data = Vec::new();
        for y in 0..height {
            for x in 0..width {
                data.extend(pixel(x, y));
            }
        }
        writer.write_image_data(&data).unwrap();
    }

    #[test]
    fn a_blank_page_is_rejected_and_a_coloured_chart_accepted() {
        let dir = std::env::temp_dir().join(format!("xtask-render-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let blank = dir.join("blank.png");
        write_png(&blank, 800, 200, |_, _| [255, 255, 255]);
        assert!(inspect(&blank).is_err());
        let chart = dir.join("chart.png");
        write_png(&chart, 800, 200, |x, y| {
            if y % 20 == 0 {
                [(x % 8 * 30) as u8, 40, 200]
            } else {
                [255, 255, 255]
            }
        });
        assert!(inspect(&chart).is_ok(), "{:?}", inspect(&chart));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
