/*
  Structural rules ("*.head.yar"): they test headers at fixed offsets and use the pe module, so the
  scanner runs them once over the head of the file (whole-file semantics up to that size) instead
  of over each chunk.
*/
import "pe"

rule packer_upx_pe
{
    meta:
        category = "packer"
        severity = "low"
        title = "UPX-packed Windows executable"
    condition:
        uint16(0) == 0x5A4D and
        for any section in pe.sections : (section.name == "UPX0" or section.name == "UPX1")
}

rule pe_without_sections
{
    meta:
        category = "suspicious-executable"
        severity = "low"
        title = "Windows executable with no sections"
    condition:
        uint16(0) == 0x5A4D and pe.is_pe and pe.number_of_sections == 0
}
