//! Where film frames go: numbered PNGs, an MP4 through the system `ffmpeg`, or a GIF.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use bevy::image::Image;
use bevy::render::render_resource::TextureFormat;

use crate::app::error::{AppError, AppResult};

/// GIFs wider than this are scaled down: full-size GIFs are huge and slow to quantise.
const GIF_MAX_WIDTH: u32 = 720;

/// The file (or folder) a film is written to, its kind chosen from the `--out` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilmFile {
    /// A folder of numbered PNG frames.
    Pngs(PathBuf),
    /// An H.264 MP4, encoded by `ffmpeg`.
    Mp4(PathBuf),
    /// An animated GIF.
    Gif(PathBuf),
}

impl FilmFile {
    /// The file or folder written.
    pub fn path(&self) -> &Path {
        match self {
            FilmFile::Pngs(p) | FilmFile::Mp4(p) | FilmFile::Gif(p) => p,
        }
    }

    /// `.mp4` and `.gif` by extension; anything without an extension is a folder of PNGs.
    pub fn from_path(path: &Path) -> AppResult<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("mp4") => Ok(FilmFile::Mp4(path.to_path_buf())),
            Some("gif") => Ok(FilmFile::Gif(path.to_path_buf())),
            None => Ok(FilmFile::Pngs(path.to_path_buf())),
            Some(other) => Err(AppError::flag(
                format!("--out {}", path.display()),
                format!(
                    "`.{other}` is not an output kind; use .mp4, .gif, or a folder name without an extension for PNG frames"
                ),
            )),
        }
    }
}

/// True when `ffmpeg` can be run.
pub(super) fn ffmpeg_available() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

enum Encoder {
    Pngs(PathBuf),
    Ffmpeg {
        path: PathBuf,
        child: Child,
    },
    Gif {
        path: PathBuf,
        encoder: Box<image::codecs::gif::GifEncoder<std::fs::File>>,
    },
}

/// Takes frames in any order, writes them in order.
pub struct FilmSink {
    encoder: Option<Encoder>,
    size: (u32, u32),
    fps: f32,
    pending: BTreeMap<u32, Vec<u8>>,
    next: u32,
    error: Option<AppError>,
    progress: Option<indicatif::ProgressBar>,
}

impl FilmSink {
    /// A sink for `kind`, at `size` and `fps`. An MP4 without `ffmpeg` is an error
    /// here; the caller decides on a fallback.
    pub fn new(kind: &FilmFile, size: (u32, u32), fps: f32) -> AppResult<Self> {
        let encoder = match kind {
            FilmFile::Pngs(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| AppError::io(dir, "cannot create", e))?;
                Encoder::Pngs(dir.clone())
            }
            FilmFile::Mp4(path) => {
                let child = Command::new("ffmpeg")
                    .args([
                        "-hide_banner",
                        "-loglevel",
                        "error",
                        "-y",
                        "-f",
                        "rawvideo",
                        "-pix_fmt",
                        "rgba",
                    ])
                    .args([
                        "-s",
                        &format!("{}x{}", size.0, size.1),
                        "-framerate",
                        &fps.to_string(),
                        "-i",
                        "-",
                    ])
                    // H.264 in yuv420p needs even sizes.
                    .args([
                        "-vf",
                        "scale=trunc(iw/2)*2:trunc(ih/2)*2",
                        "-c:v",
                        "libx264",
                        "-pix_fmt",
                        "yuv420p",
                    ])
                    .args(["-crf", "18", "-movflags", "+faststart"])
                    .arg(path)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .map_err(|e| AppError::encoder("cannot run ffmpeg", e))?;
                Encoder::Ffmpeg {
                    path: path.clone(),
                    child,
                }
            }
            FilmFile::Gif(path) => {
                let file = std::fs::File::create(path)
                    .map_err(|e| AppError::io(path, "cannot create", e))?;
                let mut encoder = image::codecs::gif::GifEncoder::new_with_speed(file, 10);
                encoder
                    .set_repeat(image::codecs::gif::Repeat::Infinite)
                    .map_err(|e| AppError::encoder(format!("GIF {}", path.display()), e))?;
                Encoder::Gif {
                    path: path.clone(),
                    encoder: Box::new(encoder),
                }
            }
        };
        Ok(FilmSink {
            encoder: Some(encoder),
            size,
            fps,
            pending: BTreeMap::new(),
            next: 0,
            error: None,
            progress: None,
        })
    }

    /// Shows progress (frames done, ETA) on this bar.
    pub fn with_progress(mut self, bar: indicatif::ProgressBar) -> Self {
        self.progress = Some(bar);
        self
    }

    /// Frames written so far.
    pub fn written(&self) -> u32 {
        self.next
    }

    /// The first error met, if any.
    pub fn error(&self) -> Option<&AppError> {
        self.error.as_ref()
    }

    /// Takes the first error met, if any.
    pub fn take_error(&mut self) -> Option<AppError> {
        self.error.take()
    }

    /// Takes frame `index` (a read-back of the render target) and writes every
    /// frame that is now in order.
    pub fn accept(&mut self, index: u32, image: &Image) {
        match rgba_pixels(image, self.size) {
            Ok(rgba) => {
                self.pending.insert(index, rgba);
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        while let Some(rgba) = self.pending.remove(&self.next) {
            if let Err(e) = self.write(self.next, &rgba) {
                self.error.get_or_insert(e);
            }
            self.next += 1;
            if let Some(bar) = &self.progress {
                bar.set_position(u64::from(self.next));
            }
        }
    }

    fn write(&mut self, index: u32, rgba: &[u8]) -> AppResult<()> {
        let (w, h) = self.size;
        match self.encoder.as_mut() {
            Some(Encoder::Pngs(dir)) => {
                let path = dir.join(format!("frame_{index:05}.png"));
                image::save_buffer(&path, rgba, w, h, image::ExtendedColorType::Rgba8)
                    .map_err(|e| AppError::encoder(format!("PNG {}", path.display()), e))
            }
            Some(Encoder::Ffmpeg { path, child }) => {
                let what = || format!("ffmpeg writing {}", path.display());
                child
                    .stdin
                    .as_mut()
                    .ok_or_else(|| AppError::encoder(what(), "its input is closed"))?
                    .write_all(rgba)
                    .map_err(|e| AppError::encoder(what(), format!("stopped taking frames: {e}")))
            }
            Some(Encoder::Gif { path, encoder }) => {
                let what = || format!("GIF {}", path.display());
                let img = image::RgbaImage::from_raw(w, h, rgba.to_vec())
                    .ok_or_else(|| AppError::encoder(what(), "a frame of the wrong size"))?;
                let img = if w > GIF_MAX_WIDTH {
                    let nh = (h as f32 * GIF_MAX_WIDTH as f32 / w as f32).round() as u32;
                    image::imageops::resize(
                        &img,
                        GIF_MAX_WIDTH,
                        nh.max(1),
                        image::imageops::FilterType::Triangle,
                    )
                } else {
                    img
                };
                let delay =
                    image::Delay::from_numer_denom_ms(1000, self.fps.round().max(1.0) as u32);
                encoder
                    .encode_frame(image::Frame::from_parts(img, 0, 0, delay))
                    .map_err(|e| AppError::encoder(what(), e))
            }
            None => Err(AppError::Capture("the film is already finished".into())),
        }
    }

    /// Closes the output (waits for ffmpeg); returns what was written.
    pub fn finish(&mut self) -> AppResult<PathBuf> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        match self.encoder.take() {
            Some(Encoder::Pngs(dir)) => Ok(dir),
            Some(Encoder::Ffmpeg { path, mut child }) => {
                // Closing its input tells ffmpeg the film is complete.
                child.stdin = None;
                let what = format!("ffmpeg writing {}", path.display());
                let status = child.wait().map_err(|e| AppError::encoder(&what, e))?;
                if status.success() {
                    Ok(path)
                } else {
                    Err(AppError::encoder(what, format!("failed ({status})")))
                }
            }
            Some(Encoder::Gif { path, encoder }) => {
                drop(encoder);
                Ok(path)
            }
            None => Err(AppError::Capture("the film is already finished".into())),
        }
    }
}

/// The image's pixels as tightly packed RGBA8.
pub(crate) fn rgba_pixels(image: &Image, size: (u32, u32)) -> AppResult<Vec<u8>> {
    if (image.width(), image.height()) != size {
        return Err(AppError::Capture(format!(
            "a frame came back {}x{}, not {}x{}",
            image.width(),
            image.height(),
            size.0,
            size.1
        )));
    }
    let data = image
        .data
        .as_ref()
        .ok_or_else(|| AppError::Capture("a frame came back empty".into()))?;
    match image.texture_descriptor.format {
        TextureFormat::Rgba8UnormSrgb | TextureFormat::Rgba8Unorm => Ok(data.clone()),
        TextureFormat::Bgra8UnormSrgb | TextureFormat::Bgra8Unorm => Ok(data
            .chunks_exact(4)
            .flat_map(|p| [p[2], p[1], p[0], p[3]])
            .collect()),
        other => Err(AppError::Capture(format!(
            "frames in {other:?} are not supported"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_kind_follows_the_path() {
        assert_eq!(
            FilmFile::from_path(Path::new("a/film.mp4")).unwrap(),
            FilmFile::Mp4("a/film.mp4".into())
        );
        assert_eq!(
            FilmFile::from_path(Path::new("film.GIF")).unwrap(),
            FilmFile::Gif("film.GIF".into())
        );
        assert_eq!(
            FilmFile::from_path(Path::new("frames")).unwrap(),
            FilmFile::Pngs("frames".into())
        );
        let err = FilmFile::from_path(Path::new("film.avi"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(".avi") && err.contains(".mp4"), "{err}");
    }
}
