//! Adds a non-loaded section to a linked ELF file by appending only: the section's data, a copy
//! of the section-name table with the new name added, and a copy of the section header table
//! with one more entry; the ELF header's `e_shoff` and `e_shnum` then point at the copy. No other
//! byte of the file changes, so the program the kernel loads is the one the linker wrote.
//!
//! Hand-written on purpose: the `object` crate's ELF builder (the one well-kept ELF writer) lays
//! the file out again, and in glibc binaries it rewrites `.dynstr`/`.dynsym` (loaded bytes and
//! `DT_STRSZ` change), which is more than a dependency list is worth. goblin parses; this only
//! writes the few fields it must.

use goblin::elf::section_header::{SectionHeader, SHT_PROGBITS};
use goblin::elf::Elf;

/// Why a section could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("it is not an ELF file")]
    NotElf(#[source] goblin::error::Error),
    #[error("it has no section header table")]
    NoSections,
    #[error("it has too many sections for the plain ELF header fields ({0})")]
    TooManySections(usize),
}

/// What `append` did.
pub enum Appended {
    /// The new file's bytes.
    Added(Vec<u8>),
    /// The file already has a section of that name (built by `cargo auditable`, say): kept.
    AlreadyThere,
}

/// `bin` with a section `name` holding `data` (SHT_PROGBITS, flags 0: not loaded, align 1).
pub fn append(bin: &[u8], name: &str, data: &[u8]) -> Result<Appended, AppendError> {
    let elf = Elf::parse(bin).map_err(AppendError::NotElf)?;
    let headers = &elf.section_headers;
    if headers.iter().any(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(name)) {
        return Ok(Appended::AlreadyThere);
    }
    let shstrndx = elf.header.e_shstrndx as usize;
    if elf.header.e_shoff == 0 || headers.is_empty() || shstrndx == 0 || shstrndx >= headers.len() {
        return Err(AppendError::NoSections);
    }
    // Numbering past 0xff00 moves e_shnum/e_shstrndx into section 0: not handled (never seen in
    // a Rust executable).
    if headers.len() != elf.header.e_shnum as usize || headers.len() + 1 >= 0xff00 {
        return Err(AppendError::TooManySections(headers.len()));
    }
    let w = Writer { le: elf.little_endian, is64: elf.is_64 };
    let names = &headers[shstrndx];
    let names_bytes =
        bin.get(names.sh_offset as usize..(names.sh_offset + names.sh_size) as usize).ok_or(AppendError::NoSections)?;

    let mut out = bin.to_vec();
    let data_at = out.len() as u64;
    out.extend_from_slice(data);
    let names_at = out.len() as u64;
    out.extend_from_slice(names_bytes);
    let name_index = names_bytes.len();
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    let names_size = out.len() as u64 - names_at;
    out.resize(out.len().next_multiple_of(if elf.is_64 { 8 } else { 4 }), 0);
    let shoff = out.len() as u64;

    let mut table: Vec<SectionHeader> = headers.clone();
    table[shstrndx].sh_offset = names_at;
    table[shstrndx].sh_size = names_size;
    table.push(SectionHeader {
        sh_name: name_index,
        sh_type: SHT_PROGBITS,
        sh_flags: 0,
        sh_addr: 0,
        sh_offset: data_at,
        sh_size: data.len() as u64,
        sh_link: 0,
        sh_info: 0,
        sh_addralign: 1,
        sh_entsize: 0,
    });
    for h in &table {
        w.header(&mut out, h);
    }
    // e_shoff and e_shnum: at 0x28/0x3c in ELF64, 0x20/0x30 in ELF32.
    let (shoff_at, shnum_at) = if elf.is_64 { (0x28, 0x3c) } else { (0x20, 0x30) };
    let mut field = Vec::new();
    w.word(&mut field, shoff);
    out[shoff_at..shoff_at + field.len()].copy_from_slice(&field);
    field.clear();
    w.int(&mut field, table.len() as u64, 2);
    out[shnum_at..shnum_at + 2].copy_from_slice(&field);
    Ok(Appended::Added(out))
}

/// Writes integers in the file's byte order and class.
struct Writer {
    le: bool,
    is64: bool,
}

impl Writer {
    fn int(&self, out: &mut Vec<u8>, v: u64, n: usize) {
        if self.le {
            out.extend_from_slice(&v.to_le_bytes()[..n]);
        } else {
            out.extend_from_slice(&v.to_be_bytes()[8 - n..]);
        }
    }

    /// An address-sized field (Elf64_Xword/Elf32_Word where the class decides).
    fn word(&self, out: &mut Vec<u8>, v: u64) {
        self.int(out, v, if self.is64 { 8 } else { 4 });
    }

    /// One Elf{32,64}_Shdr, in the spec's field order.
    fn header(&self, out: &mut Vec<u8>, h: &SectionHeader) {
        self.int(out, h.sh_name as u64, 4);
        self.int(out, h.sh_type.into(), 4);
        self.word(out, h.sh_flags);
        self.word(out, h.sh_addr);
        self.word(out, h.sh_offset);
        self.word(out, h.sh_size);
        self.int(out, h.sh_link.into(), 4);
        self.int(out, h.sh_info.into(), 4);
        self.word(out, h.sh_addralign);
        self.word(out, h.sh_entsize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only e_shoff, e_shnum and the tail change; the section reads back (goblin) with its data.
    fn check(path: &str) {
        let Ok(bin) = std::fs::read(path) else { return };
        let Appended::Added(out) = append(&bin, ".dep-v0", b"hello data").unwrap() else { panic!("added") };
        let elf = Elf::parse(&out).unwrap();
        let changed: Vec<usize> = (0..bin.len()).filter(|&i| bin[i] != out[i]).collect();
        let (shoff, shnum) = if elf.is_64 { (0x28..0x30, 0x3c..0x3e) } else { (0x20..0x24, 0x30..0x32) };
        assert!(changed.iter().all(|i| shoff.contains(i) || shnum.contains(i)), "{path}: {changed:?}");
        let s = elf.section_headers.iter().find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".dep-v0")).unwrap();
        assert_eq!(&out[s.sh_offset as usize..][..s.sh_size as usize], b"hello data");
        assert_eq!(s.sh_flags, 0, "not loaded");
        assert!(matches!(append(&out, ".dep-v0", b"x").unwrap(), Appended::AlreadyThere));
        assert_eq!(elf.section_headers.len(), Elf::parse(&bin).unwrap().section_headers.len() + 1);
    }

    #[test]
    fn appends_without_touching_the_program() {
        // Binaries of the system (ELF64, little-endian, dynamically linked against glibc).
        check("/bin/sh");
        check("/usr/bin/env");
        assert!(matches!(append(b"not an elf", ".dep-v0", b""), Err(AppendError::NotElf(_))));
    }
}
