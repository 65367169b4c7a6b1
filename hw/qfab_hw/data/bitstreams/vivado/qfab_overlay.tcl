# Vivado batch flow of a qfab PYNQ overlay: Zynq PS + AXI DMA (widened length register) + qfab.
#
#   vivado -mode batch -source qfab_overlay.tcl -tclargs \
#       <name> <part> <board_part> <ps: zynq7|zynq_ultra_ps_e> <fclk_mhz> <dma_length_bits> \
#       <port_width_bits> <verilog files...>
#
# Run by `make bitstream BOARD=...` (hw/qfab_hw/bitstream.py), which generates the Verilog
# (qfab_core.v and the AXI-named wrapper qfab_overlay_top.v), passes the board file's
# [ps_pl] width_bits as <port_width_bits> (the HP port and the DMA's memory side are built that
# wide, so the board file and the bitstream agree), and copies <name>/<name>.bit and
# <name>/<name>.hwh (same basename, as pynq.Overlay expects) beside the manifest.
#
# Timing gate: after routing, the worst negative slack (WNS) of the setup paths is written to
# <name>.timing ("wns_ns <value>"); a WNS below zero fails the build, so no bitstream that
# misses the PL clock is ever recorded as built.

set name        [lindex $argv 0]
set part        [lindex $argv 1]
set board_part  [lindex $argv 2]
set ps_kind     [lindex $argv 3]
set fclk_mhz    [lindex $argv 4]
set dma_len     [lindex $argv 5]
set port_width  [lindex $argv 6]
set sources     [lrange $argv 7 end]

create_project $name ./$name -part $part -force
if {[catch {set_property board_part $board_part [current_project]} message]} {
    puts "WARNING: board files for $board_part not installed ($message); using the bare part"
}
add_files -norecurse $sources
update_compile_order -fileset sources_1

create_bd_design "qfab"

# --- processing system: one high-performance slave port, <port_width> bits, for the DMA ----
if {$ps_kind eq "zynq7"} {
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7 ps]
    apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
        -config {make_external "FIXED_IO, DDR" apply_board_preset "1"} $ps
    set_property -dict [list CONFIG.PCW_USE_S_AXI_HP0 {1} CONFIG.PCW_S_AXI_HP0_DATA_WIDTH $port_width \
        CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $fclk_mhz] $ps
    set gp_master /ps/M_AXI_GP0
    set hp_slave  /ps/S_AXI_HP0
    set fclk      /ps/FCLK_CLK0
} else {
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:zynq_ultra_ps_e ps]
    apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e \
        -config {apply_board_preset "1"} $ps
    set_property -dict [list CONFIG.PSU__USE__M_AXI_GP0 {1} CONFIG.PSU__USE__M_AXI_GP1 {0} \
        CONFIG.PSU__USE__S_AXI_GP2 {1} CONFIG.PSU__SAXIGP2__DATA_WIDTH $port_width \
        CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $fclk_mhz] $ps
    set gp_master /ps/M_AXI_HPM0_FPD
    set hp_slave  /ps/S_AXI_HP0_FPD
    set fclk      /ps/pl_clk0
}

# --- the core (RTL module reference) and the DMA ------------------------------------------
set core [create_bd_cell -type module -reference qfab_overlay_top qfab]
set dma [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma axi_dma]
# Simple mode; the length register widened from the 14-bit default (16 KB) so a READ_STATE of
# 2**n amplitudes (8 B each) completes in one transfer; TLAST comes from the core.
set_property -dict [list CONFIG.c_include_sg {0} CONFIG.c_sg_length_width $dma_len \
    CONFIG.c_m_axi_mm2s_data_width $port_width CONFIG.c_m_axis_mm2s_tdata_width {64} \
    CONFIG.c_m_axi_s2mm_data_width $port_width CONFIG.c_s_axis_s2mm_tdata_width {64} \
    CONFIG.c_mm2s_burst_size {16} CONFIG.c_s2mm_burst_size {16}] $dma

connect_bd_intf_net [get_bd_intf_pins axi_dma/M_AXIS_MM2S] [get_bd_intf_pins qfab/s_axis]
connect_bd_intf_net [get_bd_intf_pins qfab/m_axis] [get_bd_intf_pins axi_dma/S_AXIS_S2MM]

# Register interfaces from the PS general-purpose master, DMA data to the HP port.
foreach slave {axi_dma/S_AXI_LITE qfab/s_axi_control} {
    apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
        -config [list Clk_master $fclk Clk_slave $fclk Clk_xbar $fclk Master $gp_master \
                 Slave /$slave intc_ip {New AXI Interconnect} master_apm {0}] \
        [get_bd_intf_pins $slave]
}
foreach master {axi_dma/M_AXI_MM2S axi_dma/M_AXI_S2MM} {
    apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
        -config [list Clk_master $fclk Clk_slave $fclk Clk_xbar $fclk Master /$master \
                 Slave $hp_slave intc_ip {Auto} master_apm {0}] \
        [get_bd_intf_pins $hp_slave]
}
# The AXI automation usually wires the core's clock and reset already (ASSOCIATED_BUSIF).
if {[llength [get_bd_nets -quiet -of_objects [get_bd_pins qfab/aclk]]] == 0} {
    connect_bd_net [get_bd_pins $fclk] [get_bd_pins qfab/aclk]
}
if {[llength [get_bd_nets -quiet -of_objects [get_bd_pins qfab/aresetn]]] == 0} {
    connect_bd_net [get_bd_pins [lindex [get_bd_cells rst_ps*] 0]/peripheral_aresetn] \
        [get_bd_pins qfab/aresetn]
}

assign_bd_address
validate_bd_design
save_bd_design

add_files -norecurse [make_wrapper -files [get_files qfab.bd] -top]
set_property top qfab_wrapper [current_fileset]

launch_runs impl_1 -to_step write_bitstream -jobs 4
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
    error "implementation of $name failed; see ./$name/$name.runs/impl_1"
}

# Timing gate: the routed design's worst setup slack at the PL clock.
open_run impl_1
set wns [get_property SLACK [get_timing_paths -max_paths 1 -nworst 1 -setup]]
set timing [open ./$name.timing w]
puts $timing "wns_ns $wns"
puts $timing "fclk_mhz $fclk_mhz"
close $timing
report_timing_summary -file ./$name.timing_summary.rpt
if {$wns eq "" || $wns < 0} {
    error "timing of $name failed: worst negative slack $wns ns at $fclk_mhz MHz (see ./$name.timing_summary.rpt); lower the board's pl_mhz or pipeline the core"
}

# PYNQ loads <name>.bit with <name>.hwh beside it.
file copy -force [glob ./$name/$name.runs/impl_1/qfab_wrapper.bit] ./$name.bit
# Vivado 2020.2+ writes generated files under .gen, older versions under .srcs.
set hwh [glob -nocomplain ./$name/$name.gen/sources_1/bd/qfab/hw_handoff/qfab.hwh \
                           ./$name/$name.srcs/sources_1/bd/qfab/hw_handoff/qfab.hwh]
file copy -force [lindex $hwh 0] ./$name.hwh
puts "qfab overlay: ./$name.bit ./$name.hwh"
