//! RON values as JSON, keeping enum variant names, so a sweep axis can set
//! any scene field through the scene's JSON form.
//!
//! `ron::Value` forgets identifiers (`Adam` becomes `()`), so this reads the
//! few RON forms a value can take and writes serde's externally tagged JSON:
//! `Adam` → `"Adam"`, `Normal(std: 1.0)` → `{"Normal": {"std": 1.0}}`,
//! `Spiral(samples: 400)` → `{"Spiral": {"samples": 400}}`, `[16, 16]` →
//! `[16, 16]`, `(a: 1)` → `{"a": 1}`, `Some(x)` → `x`, `None` → `null`.

use serde_json::{Map, Number, Value};

/// Reads one RON value; the error says what was expected where.
pub(super) fn to_json(text: &str) -> Result<Value, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        at: 0,
    };
    let v = p.value()?;
    p.space();
    if p.at < p.s.len() {
        return Err(p.error("the end of the value"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, expected: &str) -> String {
        let rest: String = String::from_utf8_lossy(&self.s[self.at.min(self.s.len())..])
            .chars()
            .take(20)
            .collect();
        if rest.is_empty() {
            format!("expected {expected}, found the end")
        } else {
            format!("expected {expected} at `{rest}`")
        }
    }

    fn space(&mut self) {
        loop {
            while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
                self.at += 1;
            }
            if self.s[self.at..].starts_with(b"//") {
                while self.at < self.s.len() && self.s[self.at] != b'\n' {
                    self.at += 1;
                }
            } else if self.s[self.at..].starts_with(b"/*") {
                match self.s[self.at + 2..].windows(2).position(|w| w == b"*/") {
                    Some(end) => self.at += end + 4,
                    None => self.at = self.s.len(),
                }
            } else {
                return;
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.space();
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some(b'[') => {
                self.at += 1;
                let items = self.items(b']')?;
                Ok(Value::Array(items.into_iter().map(|(_, v)| v).collect()))
            }
            Some(b'(') => {
                self.at += 1;
                self.body()
            }
            Some(b'"') => self.string().map(Value::String),
            Some(c) if c == b'-' || c == b'+' || c == b'.' || c.is_ascii_digit() => self.number(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let name = self.ident();
                match name.as_str() {
                    "true" => return Ok(Value::Bool(true)),
                    "false" => return Ok(Value::Bool(false)),
                    "None" => return Ok(Value::Null),
                    "inf" => return Ok(float(f64::INFINITY)),
                    "NaN" => return Ok(float(f64::NAN)),
                    _ => {}
                }
                if !self.eat(b'(') {
                    return Ok(Value::String(name));
                }
                let inner = self.body()?;
                if name == "Some" {
                    return Ok(inner);
                }
                let mut tagged = Map::new();
                tagged.insert(name, inner);
                Ok(Value::Object(tagged))
            }
            _ => Err(self.error("a value")),
        }
    }

    /// The inside of `( ... )` after the opening parenthesis: named fields
    /// make an object, one item is itself, several make an array.
    fn body(&mut self) -> Result<Value, String> {
        let items = self.items(b')')?;
        if !items.is_empty() && items.iter().all(|(k, _)| k.is_some()) {
            return Ok(Value::Object(
                items
                    .into_iter()
                    .filter_map(|(k, v)| k.map(|k| (k, v)))
                    .collect(),
            ));
        }
        if items.iter().any(|(k, _)| k.is_some()) {
            return Err("mixed named and unnamed items in `( )`".into());
        }
        let mut values: Vec<Value> = items.into_iter().map(|(_, v)| v).collect();
        Ok(match values.len() {
            0 => Value::Null,
            1 => values.remove(0),
            _ => Value::Array(values),
        })
    }

    /// Comma-separated items up to `close`, each `name: value` or `value`.
    fn items(&mut self, close: u8) -> Result<Vec<(Option<String>, Value)>, String> {
        let mut out = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(out);
            }
            let start = self.at;
            let mut name = None;
            if self
                .peek()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
            {
                let ident = self.ident();
                if self.eat(b':') {
                    name = Some(ident);
                } else {
                    self.at = start;
                }
            }
            out.push((name, self.value()?));
            if !self.eat(b',') {
                if self.eat(close) {
                    return Ok(out);
                }
                return Err(self.error(&format!("`,` or `{}`", close as char)));
            }
        }
    }

    fn ident(&mut self) -> String {
        self.space();
        let start = self.at;
        while self.at < self.s.len()
            && (self.s[self.at].is_ascii_alphanumeric() || self.s[self.at] == b'_')
        {
            self.at += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.at]).into_owned()
    }

    fn string(&mut self) -> Result<String, String> {
        self.at += 1;
        let mut out = Vec::new();
        while let Some(&c) = self.s.get(self.at) {
            self.at += 1;
            match c {
                b'"' => {
                    return String::from_utf8(out)
                        .map_err(|_| "a string that is not UTF-8".to_string());
                }
                b'\\' => {
                    let Some(&e) = self.s.get(self.at) else { break };
                    self.at += 1;
                    out.push(match e {
                        b'n' => b'\n',
                        b't' => b'\t',
                        other => other,
                    });
                }
                _ => out.push(c),
            }
        }
        Err("a string without its closing `\"`".into())
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.at;
        while self.at < self.s.len()
            && (self.s[self.at].is_ascii_alphanumeric()
                || matches!(self.s[self.at], b'.' | b'-' | b'+' | b'_'))
        {
            self.at += 1;
        }
        let text: String = String::from_utf8_lossy(&self.s[start..self.at]).replace('_', "");
        let text = text.strip_prefix('+').unwrap_or(&text);
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = text.parse::<u64>() {
            return Ok(Value::Number(u.into()));
        }
        match text.parse::<f64>() {
            Ok(f) => Ok(float(f)),
            Err(_) => {
                self.at = start;
                Err(self.error("a number"))
            }
        }
    }
}

/// A JSON number for `f` (JSON has no NaN or infinity: they become `null`,
/// which a numeric scene field then rejects with a clear error).
pub(super) fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ron_values_become_externally_tagged_json() {
        assert_eq!(to_json("Adam").unwrap(), json!("Adam"));
        assert_eq!(to_json(" 3 ").unwrap(), json!(3));
        assert_eq!(to_json("-2.5e-3").unwrap(), json!(-0.0025));
        assert_eq!(to_json("[16, 16,]").unwrap(), json!([16, 16]));
        assert_eq!(
            to_json("Normal(std: 1.0)").unwrap(),
            json!({"Normal": {"std": 1.0}})
        );
        assert_eq!(
            to_json("Spiral(samples: 400, noise: 0.1)").unwrap(),
            json!({"Spiral": {"samples": 400, "noise": 0.1}})
        );
        assert_eq!(to_json("Some(0.5)").unwrap(), json!(0.5));
        assert_eq!(to_json("None").unwrap(), json!(null));
        assert_eq!(
            to_json("(a: 1, b: \"x\")").unwrap(),
            json!({"a": 1, "b": "x"})
        );
        assert_eq!(to_json("(1, 2)").unwrap(), json!([1, 2]));
        assert_eq!(to_json("Count(300)").unwrap(), json!({"Count": 300}));
        assert_eq!(to_json("// why\n true").unwrap(), json!(true));
        assert!(to_json("[1, 2").unwrap_err().contains("expected"));
        assert!(to_json("1 2").unwrap_err().contains("end of the value"));
        assert!(to_json("\"open").is_err());
    }
}
