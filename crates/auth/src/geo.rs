//! IP geolocation from MaxMind-format (.mmdb) databases.
//!
//! Reads GeoLite2/GeoIP2 City, Country and ASN databases and compatible files such as the CC0
//! / CC-BY ip-location-db `geo-whois-asn-country` (records `{country_code: "DE"}`). Several
//! files can be layered ([`Geo::add`]): each field comes from the first file that has it, so a
//! Country database plus an ASN database gives both.

use maxminddb::Reader;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::centroids::centroid;
use crate::error::AuthError;

/// Where an address is, as far as the databases know.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GeoInfo<'a> {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<[u8; 2]>,
    pub asn: Option<u32>,
    /// Latitude, longitude in degrees.
    pub coords: Option<(f32, f32)>,
    /// True when `coords` are the database's own (city level); false when they are the
    /// country centroid (lower confidence: an error of up to the country's size).
    pub precise: bool,
    /// English city name when the database has one.
    pub city: Option<&'a str>,
}

impl GeoInfo<'_> {
    pub fn country_str(&self) -> &str {
        self.country
            .as_ref()
            .and_then(|c| std::str::from_utf8(c).ok())
            .unwrap_or("??")
    }
}

#[derive(Deserialize)]
struct Rec<'a> {
    #[serde(borrow, default)]
    country: Option<CountryRec<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<CountryRec<'a>>,
    #[serde(default)]
    location: Option<Loc>,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    city: Option<CityRec<'a>>,
}

#[derive(Deserialize)]
struct CountryRec<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Loc {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

#[derive(Deserialize)]
struct CityRec<'a> {
    #[serde(borrow, default)]
    names: Option<Names<'a>>,
}

#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

fn code(s: &str) -> Option<[u8; 2]> {
    let b = s.as_bytes();
    (b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic))
        .then(|| [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()])
}

/// One or more opened .mmdb files.
pub struct Geo {
    dbs: Vec<(PathBuf, Reader<Vec<u8>>)>,
}

impl std::fmt::Debug for Geo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.dbs.iter().map(|(p, _)| p))
            .finish()
    }
}

impl Geo {
    /// Opens one database; the error names the file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuthError> {
        let mut g = Geo { dbs: Vec::new() };
        g.add(path)?;
        Ok(g)
    }

    /// Layers another database (e.g. an ASN database under a City database).
    pub fn add(&mut self, path: impl AsRef<Path>) -> Result<(), AuthError> {
        let path = path.as_ref();
        let reader = Reader::open_readfile(path).map_err(|e| AuthError::Geo {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        self.dbs.push((path.to_path_buf(), reader));
        Ok(())
    }

    /// Looks an address up in every database. `Ok` with all fields `None` is "no record"; a
    /// corrupt record is an error naming the file.
    pub fn lookup(&self, ip: IpAddr) -> Result<GeoInfo<'_>, AuthError> {
        let mut info = GeoInfo::default();
        for (path, db) in &self.dbs {
            let err = |e: maxminddb::MaxMindDbError| AuthError::Geo {
                path: path.clone(),
                message: format!("lookup {ip}: {e}"),
            };
            let res = db.lookup(ip).map_err(err)?;
            let Some(rec) = res.decode::<Rec<'_>>().map_err(err)? else {
                continue;
            };
            if info.country.is_none() {
                info.country = rec
                    .country
                    .and_then(|c| c.iso_code)
                    .or(rec.country_code)
                    .or(rec.registered_country.and_then(|c| c.iso_code))
                    .and_then(code);
            }
            if info.asn.is_none() {
                info.asn = rec.autonomous_system_number;
            }
            if !info.precise
                && let Some(Loc {
                    latitude: Some(la),
                    longitude: Some(lo),
                }) = rec.location
                && la.is_finite()
                && lo.is_finite()
                && (-90.0..=90.0).contains(&la)
                && (-180.0..=180.0).contains(&lo)
            {
                info.coords = Some((la as f32, lo as f32));
                info.precise = true;
            }
            if info.city.is_none() {
                info.city = rec.city.and_then(|c| c.names).and_then(|n| n.en);
            }
        }
        if info.coords.is_none() {
            info.coords = info.country.and_then(centroid);
            info.precise = false;
        }
        Ok(info)
    }
}

/// Great-circle distance in km (haversine, mean Earth radius 6371 km).
pub fn haversine_km(a: (f32, f32), b: (f32, f32)) -> f64 {
    let (la1, lo1) = (f64::from(a.0).to_radians(), f64::from(a.1).to_radians());
    let (la2, lo2) = (f64::from(b.0).to_radians(), f64::from(b.1).to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_known_distances() {
        // Berlin → São Paulo ≈ 10,250 km; Paris → London ≈ 344 km.
        let d = haversine_km((52.52, 13.405), (-23.55, -46.633));
        assert!((d - 10_250.0).abs() < 50.0, "{d}");
        let d = haversine_km((48.8566, 2.3522), (51.5074, -0.1278));
        assert!((d - 344.0).abs() < 5.0, "{d}");
        assert_eq!(haversine_km((10.0, 10.0), (10.0, 10.0)), 0.0);
        let d = haversine_km((0.0, 0.0), (0.0, 180.0));
        assert!((d - 20_015.0).abs() < 5.0, "{d}");
    }
}
