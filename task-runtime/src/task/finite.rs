//! Values that JSON cannot hold: NaN and the infinities.
//!
//! `serde_json` turns a non-finite `f32`/`f64` into `null` without a word, so
//! a task's `f64::NAN` would be stored as `null` and fail later, at a
//! consumer, naming neither the value nor where it came from. taskwire
//! refuses such a value where it is produced instead: a task's result (the
//! task fails with [`FailureKind::Result`](crate::FailureKind::Result) and
//! the flow reverts) or an engine input (the flow does not start). The error
//! names the task or input and the place in the value (`.ratios[2]`).
//!
//! Only values whose JSON holds a `null` are searched, so the check costs
//! nothing for the others.

use std::fmt;

use serde::ser::{self, Serialize};
use serde_json::Value;

/// Where a non-finite number sits in a value, and which it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NonFinite {
    /// `.field[3].key`, or empty for the value itself.
    pub(crate) path: String,
    pub(crate) number: f64,
}

impl fmt::Display for NonFinite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = match self.path.as_str() {
            "" => "is".to_owned(),
            path => format!("has at `{path}`"),
        };
        write!(
            f,
            "{at} the non-finite number {}, which JSON cannot hold (it would be stored as null); make it finite, or store it as a string or an `Option`",
            self.number
        )
    }
}

/// `Err` if `value`, encoded as `json`, held a NaN or an infinity.
pub(crate) fn check<T: Serialize + ?Sized>(value: &T, json: &Value) -> Result<(), NonFinite> {
    if !has_null(json) {
        return Ok(());
    }
    let mut checker = Checker { path: Vec::new() };
    match value.serialize(&mut checker) {
        Err(Stop::Found(found)) => Err(found),
        _ => Ok(()),
    }
}

/// `serde_json::to_value`, refusing non-finite numbers (an input's or an
/// injected value's encoding); the error is the message.
pub(crate) fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, String> {
    let json = serde_json::to_value(value).map_err(|e| e.to_string())?;
    check(value, &json).map_err(|found| format!("it {found}"))?;
    Ok(json)
}

fn has_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(items) => items.iter().any(has_null),
        Value::Object(map) => map.values().any(has_null),
        _ => false,
    }
}

/// Walks a value as a serializer, looking for floats that are not finite.
struct Checker {
    path: Vec<Segment>,
}

enum Segment {
    Field(&'static str),
    Index(usize),
    Key(String),
}

#[derive(Debug)]
enum Stop {
    Found(NonFinite),
    /// Anything else the value's `Serialize` says; `to_value` already
    /// succeeded, so it does not happen.
    Other,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stopped")
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Stop {
        Stop::Other
    }
}

impl Checker {
    fn float(&self, number: f64) -> Result<(), Stop> {
        if number.is_finite() {
            return Ok(());
        }
        let mut path = String::new();
        for segment in &self.path {
            match segment {
                Segment::Field(name) => path.push_str(&format!(".{name}")),
                Segment::Index(i) => path.push_str(&format!("[{i}]")),
                Segment::Key(key) => path.push_str(&format!("[{key}]")),
            }
        }
        Err(Stop::Found(NonFinite { path, number }))
    }

    fn at<T: Serialize + ?Sized>(&mut self, segment: Segment, value: &T) -> Result<(), Stop> {
        self.path.push(segment);
        let result = value.serialize(&mut *self);
        self.path.pop();
        result
    }
}

/// A compound value being walked: counts its elements.
struct Compound<'a> {
    checker: &'a mut Checker,
    next: usize,
    key: Option<String>,
}

impl<'a> Compound<'a> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        let i = self.next;
        self.next += 1;
        self.checker.at(Segment::Index(i), value)
    }
}

macro_rules! fine {
    ($($method:ident($($ty:ty),*);)*) => {
        $(fn $method(self, $(_: $ty),*) -> Result<(), Stop> { Ok(()) })*
    };
}

impl<'a> ser::Serializer for &'a mut Checker {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fine! {
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32);
        serialize_i64(i64); serialize_i128(i128); serialize_u8(u8); serialize_u16(u16);
        serialize_u32(u32); serialize_u64(u64); serialize_u128(u128); serialize_char(char);
        serialize_str(&str); serialize_bytes(&[u8]); serialize_none(); serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_f32(self, v: f32) -> Result<(), Stop> {
        self.float(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<(), Stop> {
        self.float(v)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.at(Segment::Field(variant), value)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Stop> {
        Ok(self.compound())
    }

    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Stop> {
        Ok(self.compound())
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Stop> {
        Ok(self.compound())
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Stop> {
        Ok(self.compound())
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Stop> {
        Ok(self.compound())
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Stop> {
        Ok(self.compound())
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Stop> {
        Ok(self.compound())
    }
}

impl Checker {
    fn compound(&mut self) -> Compound<'_> {
        Compound {
            checker: self,
            next: 0,
            key: None,
        }
    }
}

macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {
        $(impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Stop;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
                self.element(value)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        })*
    };
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

macro_rules! fields {
    ($($trait:ident),*) => {
        $(impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Stop;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                name: &'static str,
                value: &T,
            ) -> Result<(), Stop> {
                self.checker.at(Segment::Field(name), value)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        })*
    };
}

fields!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Stop;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Stop> {
        self.key = Some(match serde_json::to_value(key) {
            Ok(Value::String(s)) => format!("{s:?}"),
            Ok(other) => other.to_string(),
            Err(_) => "?".to_owned(),
        });
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        let key = self.key.take().unwrap_or_default();
        self.checker.at(Segment::Key(key), value)
    }

    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(serde::Serialize)]
    struct Stats {
        name: String,
        ratios: Vec<f64>,
        by_host: BTreeMap<String, f32>,
        spread: Option<(u8, f64)>,
    }

    fn checked<T: Serialize>(v: &T) -> Result<(), NonFinite> {
        check(v, &serde_json::to_value(v).unwrap())
    }

    #[test]
    fn non_finite_numbers_are_found_with_their_place() {
        let mut stats = Stats {
            name: "a".into(),
            ratios: vec![0.5, 1.0, f64::NAN],
            by_host: BTreeMap::new(),
            spread: None,
        };
        let found = checked(&stats).unwrap_err();
        assert_eq!(found.path, ".ratios[2]");
        assert!(found.number.is_nan());
        assert_eq!(
            found.to_string(),
            "has at `.ratios[2]` the non-finite number NaN, which JSON cannot hold (it would be stored as null); make it finite, or store it as a string or an `Option`"
        );
        stats.ratios.pop();
        assert_eq!(checked(&stats), Ok(()), "a None is a null too, and fine");
        stats.by_host.insert("host-b".into(), f32::INFINITY);
        assert_eq!(checked(&stats).unwrap_err().path, ".by_host[\"host-b\"]");
        stats.by_host.clear();
        stats.spread = Some((1, f64::NEG_INFINITY));
        let found = checked(&stats).unwrap_err();
        assert_eq!(
            (found.path.as_str(), found.number),
            (".spread[1]", f64::NEG_INFINITY)
        );
        assert_eq!(
            checked(&f64::NAN)
                .unwrap_err()
                .to_string()
                .split(" the")
                .next(),
            Some("is")
        );
        assert_eq!(checked(&1.5f64), Ok(()));
    }
}
