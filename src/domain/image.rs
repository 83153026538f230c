//! What `GET /api/images/{size}/{file}` may ask for: one of the sizes TMDB's `/configuration`
//! lists and one file name shaped like TMDB's image paths. Anything else is refused before a
//! byte is read or fetched, so nothing a client sends can name a path of its own (no `..`, no
//! `/`, no `%2F`, nothing hidden).

use std::fmt;

use super::Invalid;

/// Every size TMDB's `/configuration` lists for posters, backdrops, logos, profiles and stills
/// (2026), `original` included. The list TMDB answers may only narrow what is fetched, never
/// widen what is accepted: the accepted set is fixed, so it is documented and bounded.
pub const SIZES: &[&str] = &[
    "w45", "w92", "w154", "w185", "w300", "w342", "w500", "w780", "w1280", "h632", "original",
];

/// File name extensions taken, and the image type each must turn out to be.
const EXTENSIONS: &[(&str, ImageType)] = &[
    ("jpg", ImageType::Jpeg),
    ("jpeg", ImageType::Jpeg),
    ("png", ImageType::Png),
    ("webp", ImageType::Webp),
    ("gif", ImageType::Gif),
    ("svg", ImageType::Svg),
];

/// The most bytes one image may have (TMDB's `original` posters are a few MB): what an image
/// record holds and `images.max_file_bytes` may be at most.
pub const MAX_IMAGE_BYTES: u32 = 64 * 1024 * 1024;

/// Longest file stem taken (TMDB's are 27 to 32 characters).
pub const MAX_STEM: usize = 64;

/// The image types reelcache stores and serves; the byte is their code on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ImageType {
    Jpeg = 1,
    Png = 2,
    Webp = 3,
    Gif = 4,
    Svg = 5,
}

impl ImageType {
    pub fn from_code(code: u8) -> Option<ImageType> {
        Some(match code {
            1 => ImageType::Jpeg,
            2 => ImageType::Png,
            3 => ImageType::Webp,
            4 => ImageType::Gif,
            5 => ImageType::Svg,
            _ => return None,
        })
    }

    pub fn mime(self) -> &'static str {
        match self {
            ImageType::Jpeg => "image/jpeg",
            ImageType::Png => "image/png",
            ImageType::Webp => "image/webp",
            ImageType::Gif => "image/gif",
            ImageType::Svg => "image/svg+xml",
        }
    }

    /// What the bytes are, by their first bytes (never by what the sender says they are).
    pub fn sniff(bytes: &[u8]) -> Option<ImageType> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Some(ImageType::Jpeg);
        }
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Some(ImageType::Png);
        }
        if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            return Some(ImageType::Webp);
        }
        if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            return Some(ImageType::Gif);
        }
        // SVG is text: an optional byte-order mark, XML declaration, comments or doctype, then
        // the <svg element, within the first kilobyte.
        let head = &bytes[..bytes.len().min(1024)];
        let text = std::str::from_utf8(head)
            .or_else(|e| std::str::from_utf8(&head[..e.valid_up_to()]))
            .unwrap_or("");
        let text = text.trim_start_matches('\u{feff}').trim_start();
        if text.starts_with('<') && text.contains("<svg") {
            return Some(ImageType::Svg);
        }
        None
    }
}

/// A valid `{size}/{file}` pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImagePath {
    size: &'static str,
    file: String,
    kind: ImageType,
}

impl ImagePath {
    /// `size` one of [`SIZES`]; `file` a stem of 1..=64 ASCII letters, digits, `_` or `-`, a dot
    /// and one of the known extensions in lower case, as TMDB writes them
    /// (`kqjL17yufvn9OVLyXYpvtyrFfak.jpg`): one spelling per image, so one key and one fetch.
    pub fn parse(size: &str, file: &str) -> Result<ImagePath, Invalid> {
        let size = SIZES.iter().find(|s| **s == size).ok_or_else(|| {
            Invalid::new("size", format!("size must be one of {}", SIZES.join(", ")))
        })?;
        let invalid = || {
            Invalid::new(
                "file_path",
                format!(
                    "file_path must be a TMDB image file name: 1 to {MAX_STEM} letters, digits, \
                     '_' or '-', then .jpg, .jpeg, .png, .webp, .gif or .svg"
                ),
            )
        };
        let (stem, extension) = file.rsplit_once('.').ok_or_else(invalid)?;
        if stem.is_empty()
            || stem.len() > MAX_STEM
            || !stem
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(invalid());
        }
        let kind = EXTENSIONS
            .iter()
            .find(|(e, _)| *e == extension)
            .map(|(_, kind)| *kind)
            .ok_or_else(invalid)?;
        Ok(ImagePath {
            size,
            file: file.to_owned(),
            kind,
        })
    }

    pub fn size(&self) -> &'static str {
        self.size
    }

    /// The file name, as TMDB spells it (its `poster_path` without the leading `/`).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// What the extension says the bytes must be.
    pub fn expected_type(&self) -> ImageType {
        self.kind
    }
}

impl fmt::Display for ImagePath {
    /// `w342/kqjL17yufvn9OVLyXYpvtyrFfak.jpg`: the path below the image base URL, and the
    /// image's key in the store and in snapshots.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.size, self.file)
    }
}

impl std::str::FromStr for ImagePath {
    type Err = Invalid;

    fn from_str(key: &str) -> Result<ImagePath, Invalid> {
        let (size, file) = key
            .split_once('/')
            .ok_or_else(|| Invalid::new("file_path", "an image key is size/file"))?;
        ImagePath::parse(size, file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_tmdb_shaped_paths_only() {
        let ok = ImagePath::parse("w342", "kqjL17yufvn9OVLyXYpvtyrFfak.jpg").unwrap();
        assert_eq!(ok.to_string(), "w342/kqjL17yufvn9OVLyXYpvtyrFfak.jpg");
        assert_eq!(ok.expected_type(), ImageType::Jpeg);
        assert_eq!(
            "original/a-b_c.svg"
                .parse::<ImagePath>()
                .unwrap()
                .expected_type(),
            ImageType::Svg
        );
        assert!("original/a.SVG".parse::<ImagePath>().is_err());
        for (size, file) in [
            ("w343", "a.jpg"),
            ("", "a.jpg"),
            ("W342", "a.jpg"),
            ("w342", ".jpg"),
            ("w342", "..jpg"),
            ("w342", "../a.jpg"),
            ("w342", "a/b.jpg"),
            ("w342", "a%2Fb.jpg"),
            ("w342", "a.jpg.exe"),
            ("w342", "a"),
            ("w342", "a.html"),
            ("w342", "a b.jpg"),
            ("w342", "é.jpg"),
        ] {
            assert!(ImagePath::parse(size, file).is_err(), "{size}/{file}");
        }
        let long = format!("{}.jpg", "a".repeat(MAX_STEM + 1));
        assert!(ImagePath::parse("w92", &long).is_err());
    }

    #[test]
    fn sniffs_what_the_bytes_are() {
        assert_eq!(
            ImageType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageType::Jpeg)
        );
        assert_eq!(
            ImageType::sniff(b"\x89PNG\r\n\x1a\n...."),
            Some(ImageType::Png)
        );
        assert_eq!(
            ImageType::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageType::Webp)
        );
        assert_eq!(ImageType::sniff(b"GIF89a.."), Some(ImageType::Gif));
        assert_eq!(
            ImageType::sniff(b"<?xml version=\"1.0\"?>\n<svg xmlns=\"x\"/>"),
            Some(ImageType::Svg)
        );
        assert_eq!(ImageType::sniff(b"<!doctype html><p>not found"), None);
        assert_eq!(ImageType::sniff(b"{\"status_code\":34}"), None);
        assert_eq!(ImageType::sniff(b""), None);
    }
}
