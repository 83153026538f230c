//! The fake's image server (`/t/p/{size}/{file}`, as TMDB's `image.tmdb.org/t/p/`): a synthetic
//! poster for every movie of the catalogue, an SVG drawn from the movie's id (its colour, its
//! title, its year, and the word "synthetic"), the same bytes every time. Sized like TMDB's
//! poster sizes, so a page's `<img>` has the width it asked for.

use super::catalog;

/// Poster widths by TMDB size name (`original` as TMDB's usual 2:3 poster at 1000 wide would be
/// large for no reason here: 500).
fn width(size: &str) -> Option<u32> {
    Some(match size {
        "w92" => 92,
        "w154" => 154,
        "w185" => 185,
        "w342" => 342,
        "w500" | "original" => 500,
        "w780" => 780,
        _ => return None,
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The title in lines of at most 13 characters, at most 4 lines.
fn lines(title: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in title.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + word.len() <= 13 => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines.truncate(4);
    lines
}

/// The poster of `file` at `size`, or `None` when no movie has that poster or the size is not a
/// poster size.
pub fn poster(size: &str, file: &str) -> Option<String> {
    let width = width(size)?;
    let id = catalog::poster_owner(file)?;
    let hue = (id.wrapping_mul(47)) % 360;
    let title = lines(&catalog::title(id));
    let first = 190 - 22 * title.len() as u32;
    let mut text = String::new();
    for (n, line) in title.iter().enumerate() {
        text.push_str(&format!(
            "<text x=\"100\" y=\"{}\">{}</text>",
            first + 44 * n as u32,
            escape(line)
        ));
    }
    let year = catalog::release_year(id).unwrap_or_default();
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 200 300\" font-family=\"sans-serif\" text-anchor=\"middle\" \
         fill=\"#fff\"><rect width=\"200\" height=\"300\" fill=\"hsl({hue},45%,30%)\"/>\
         <g font-size=\"22\" font-weight=\"bold\">{text}</g><text x=\"100\" y=\"250\" \
         font-size=\"16\">{year}</text><text x=\"100\" y=\"284\" font-size=\"11\">\
         synthetic poster</text></svg>",
        height = width * 3 / 2,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_movie_has_a_deterministic_titled_poster() {
        let id = catalog::id_of(7);
        let file = &catalog::poster_path(id)[1..];
        let svg = poster("w342", file).unwrap();
        assert_eq!(svg, poster("w342", file).unwrap());
        assert!(svg.starts_with("<svg") && svg.contains("width=\"342\""));
        let first_word = catalog::title(id).split(' ').next().unwrap().to_owned();
        assert!(svg.contains(&escape(&first_word)), "{svg}");
        assert!(svg.len() < 1200, "{} bytes", svg.len());
        assert_eq!(poster("w342", "unknown.svg"), None);
        assert_eq!(poster("h632", file), None);
    }
}
